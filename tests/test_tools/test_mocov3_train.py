# Copyright (c) mmlc contributors. All rights reserved.
"""The MoCo v3 demo configs (tiny ViT) through tools/train.py and mmengine's Runner on CPU: both losses, both EMAs,
checkpoints, a bit-exact resume of MoCo v3 + LC, and its 2-process gloo DDP config."""

import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch

import mmlc  # noqa: F401  (allows the Runner checkpoint's mmengine types in torch.load(weights_only=True))
from conftest import CONFIG_DIR, REPO_ROOT

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
LC_CONFIG = osp.join(CONFIG_DIR, 'mocov3_lc', 'mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')
BASE_CONFIG = osp.join(CONFIG_DIR, 'mocov3_lc', 'mocov3_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')
DDP_CONFIG = osp.join(CONFIG_DIR, 'mocov3_lc', 'mocov3-lc_vit-tiny-p16_2xb4-coslr-300i_bundled-photos-cpu-ddp.py')
# 4 images per step, no worker processes, every value logged as it is, checkpoints at iterations 2 and 4; the demo's
# 96 px views (6 x 6 patch tokens). The demo's ViT has no stochastic depth (MoCo v3's drop_path_rate is 0): mmengine's
# resume does not restore torch's random state, and the resume test compares the two runs bit for bit.
FAST = [
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1', 'log_processor.window_size=1', 'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=2'
]


def _env():
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return env


def _train(config, work_dir, iters, *extra):
    cmd = [
        sys.executable, TRAIN, config, '--work-dir',
        str(work_dir), *extra, '--cfg-options', *FAST, f'train_cfg.max_iters={iters}'
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    return log


def _load(work_dir, it):
    return torch.load(osp.join(work_dir, f'iter_{it}.pth'), weights_only=True)


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('mocov3_lc')
    return work_dir, _train(LC_CONFIG, work_dir, 4)


def test_mocov3_lc_demo_trains(straight):
    work_dir, log = straight
    for key in ('loss_global', 'loss_local', 'lc_valid_ratio', 'global_std'):
        assert len(re.findall(rf'Iter\(train\) \[\d/4\].*{key}: ', log)) == 4, key
    ckpt = _load(work_dir, 4)
    state, second = ckpt['state_dict'], _load(work_dir, 2)['state_dict']
    assert ckpt['meta']['iter'] == 4
    # Both EMAs took every step; the local branch trained on the 6 x 6 patch map.
    assert int(state['momentum_encoder.steps']) == int(state['target_local_neck.steps']) == 4
    assert state['local_neck.conv1.weight'].shape == (192, 192, 1, 1)
    assert state['backbone.pos_embed'].shape == (1, 1 + 6 * 6, 192)
    assert not torch.equal(state['local_neck.conv1.weight'], second['local_neck.conv1.weight'])


def test_mocov3_lc_resume_reproduces_the_uninterrupted_run(straight, tmp_path):
    work_dir, _ = straight
    log = _train(LC_CONFIG, tmp_path, 4, '--resume', osp.join(work_dir, 'iter_2.pth'))
    assert 'resumed' in log.lower() and not osp.exists(osp.join(tmp_path, 'iter_2.pth'))
    assert len(re.findall(r'Iter\(train\) \[\d/4\]', log)) == 2  # iterations 2 and 3 only
    # Online and momentum encoders, the local branch and its EMA twin (with their step counts), BN statistics and
    # AdamW's moments come out bit for bit the same.
    got, want = _load(tmp_path, 4), _load(work_dir, 4)
    assert got['state_dict'].keys() == want['state_dict'].keys()
    for key, value in want['state_dict'].items():
        assert torch.equal(got['state_dict'][key], value), key
    states = want['optimizer']['state']
    assert states and got['optimizer']['state'].keys() == states.keys()
    for index, state in states.items():
        for name, value in state.items():
            assert torch.equal(got['optimizer']['state'][index][name], value), f'{index}.{name}'


def test_plain_mocov3_demo_trains_two_iterations(tmp_path):
    log = _train(BASE_CONFIG, tmp_path, 2)
    ckpt = _load(tmp_path, 2)
    assert 'loss:' in log and 'loss_local' not in log
    assert ckpt['meta']['iter'] == 2 and int(ckpt['state_dict']['momentum_encoder.steps']) == 2
    assert not any(k.startswith('local_neck.') for k in ckpt['state_dict'])


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_mocov3_lc_two_process_gloo_ddp(tmp_path):
    opts = [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2'
    ]
    cmd = [
        'bash',
        osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), DDP_CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', *opts
    ]
    env = dict(_env(), PORT=str(_free_port()), PYTHON=sys.executable)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'loss_local' in log and 'DeviceAgnosticDDP' in log
    state = _load(tmp_path, 2)['state_dict']
    assert int(state['momentum_encoder.steps']) == int(state['target_local_neck.steps']) == 2

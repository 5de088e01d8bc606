# Copyright (c) mmlc contributors. All rights reserved.
"""tools/train.py through mmengine's Runner: train, resume, Pretrained init, 2-process gloo DDP."""

import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmlc  # noqa: F401
from conftest import DDP_CONFIG, DEMO_CONFIG, REPO_ROOT

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
# Small and fast: 64 px views, 4 images per step, no worker processes.
FAST = [
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1', 'train_dataloader.dataset.pipeline.1.size=64'
]


def _env():
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return env


def _run(args, timeout=600):
    proc = subprocess.run(args, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{args}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}'
    return proc.stdout + proc.stderr


def _train(work_dir, max_iters, *extra):
    opts = FAST + [f'train_cfg.max_iters={max_iters}', 'default_hooks.checkpoint.interval=1']
    return _run([sys.executable, TRAIN, DEMO_CONFIG, '--work-dir', str(work_dir), *extra, '--cfg-options', *opts])


@pytest.fixture(scope='module')
def one_iteration(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    log = _train(work_dir, 1)
    return work_dir, log


def test_one_iteration_logs_both_losses_and_saves(one_iteration):
    work_dir, log = one_iteration
    assert 'loss_global' in log and 'loss_local' in log and 'eta' in log and 'lc_valid_ratio' in log
    ckpt = torch.load(osp.join(work_dir, 'iter_1.pth'), weights_only=True)  # full Runner checkpoint
    assert ckpt['meta']['iter'] == 1
    assert any(k.startswith('local_neck.') for k in ckpt['state_dict'])
    assert int(ckpt['state_dict']['target_local_neck.steps']) == 1


def test_resume_continues_from_the_saved_iteration(one_iteration, tmp_path):
    work_dir, _ = one_iteration
    saved = torch.load(osp.join(work_dir, 'iter_1.pth'), weights_only=True)
    log = _train(tmp_path, 2, '--resume', osp.join(work_dir, 'iter_1.pth'))
    assert 'resumed' in log.lower()
    ckpt = torch.load(osp.join(tmp_path, 'iter_2.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 2
    assert not osp.exists(osp.join(tmp_path, 'iter_1.pth'))  # iteration 1 was not re-run
    # The EMA and the schedulers carried on from the checkpoint instead of restarting.
    assert int(ckpt['state_dict']['target_net.steps']) == 2
    assert int(ckpt['state_dict']['target_local_neck.steps']) == 2
    assert ckpt['param_schedulers'][0]['last_step'] == saved['param_schedulers'][0]['last_step'] + 1
    # The optimiser state covers the same parameters (its values: test_resume_reproduces_the_uninterrupted_run).
    assert ckpt['optimizer']['state'].keys() == saved['optimizer']['state'].keys()


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    # Two iterations in one go (keeping both checkpoints), then iteration 2 again from the first checkpoint:
    # weights, EMA targets, BN statistics and LARS momentum buffers must come out the same.
    keep = ('--cfg-options', 'default_hooks.checkpoint.max_keep_ckpts=2')
    _train(tmp_path / 'straight', 2, *keep)
    _train(tmp_path / 'resumed', 2, '--resume', str(tmp_path / 'straight' / 'iter_1.pth'), *keep)
    want = torch.load(tmp_path / 'straight' / 'iter_2.pth', weights_only=True)
    got = torch.load(tmp_path / 'resumed' / 'iter_2.pth', weights_only=True)
    first = torch.load(tmp_path / 'straight' / 'iter_1.pth', weights_only=True)
    assert got['state_dict'].keys() == want['state_dict'].keys()
    for key, value in want['state_dict'].items():
        torch.testing.assert_close(got['state_dict'][key], value, msg=key)
    key = 'local_neck.conv1.weight'
    assert not torch.equal(want['state_dict'][key], first['state_dict'][key])  # iteration 2 did change weights
    states = want['optimizer']['state']
    assert states and got['optimizer']['state'].keys() == states.keys()
    for index, state in states.items():
        for name, value in state.items():
            torch.testing.assert_close(got['optimizer']['state'][index][name], value, msg=f'{index}.{name}')


def test_pretrained_init_from_a_full_checkpoint(one_iteration):
    work_dir, _ = one_iteration
    path = osp.join(work_dir, 'iter_1.pth')
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.')
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = torch.load(path, weights_only=True)['state_dict']
    torch.testing.assert_close(model.backbone.conv1.weight, state['backbone.conv1.weight'])
    torch.testing.assert_close(model.backbone.layer4[1].bn2.running_var, state['backbone.layer4.1.bn2.running_var'])


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_gloo_ddp(tmp_path):
    env_port = str(_free_port())
    opts = FAST + ['train_dataloader.batch_size=2', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']
    cmd = [
        'bash',
        osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), DDP_CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', *opts
    ]
    env = dict(_env(), PORT=env_port, PYTHON=sys.executable)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    ckpt = torch.load(osp.join(tmp_path, 'iter_2.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 2


def test_amp_on_cpu_is_refused_with_a_clear_message(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    proc = subprocess.run([sys.executable, TRAIN, DEMO_CONFIG, '--amp', '--work-dir',
                           str(tmp_path)],
                          cwd=REPO_ROOT,
                          env=_env(),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode != 0 and '--amp needs a GPU' in proc.stderr


@pytest.mark.parametrize('variant', ['multilevel', 'sym'])
def test_demo_variants_train(variant, tmp_path):
    config = osp.join(osp.dirname(DEMO_CONFIG), osp.basename(DEMO_CONFIG).replace('byol-lc_', f'byol-lc-{variant}_'))
    opts = FAST + ['train_cfg.max_iters=1', 'default_hooks.checkpoint.interval=1']
    log = _run([sys.executable, TRAIN, config, '--work-dir', str(tmp_path), '--cfg-options', *opts])
    ckpt = torch.load(osp.join(tmp_path, 'iter_1.pth'), weights_only=True)
    state = ckpt['state_dict']
    if variant == 'multilevel':
        assert 'lc_level0' in log and 'lc_level2' in log
        assert {k.split('.')[1] for k in state if k.startswith('local_neck.')} == {'0', '1', '2'}
    else:
        assert 'symmetric=True' in ckpt['meta']['cfg'] and 'loss_local' in log

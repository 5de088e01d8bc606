# Copyright (c) mmlc contributors. All rights reserved.
"""The MoCo v3 demo configs (tiny ViT) through tools/train.py and mmengine's Runner on CPU: both losses, both EMAs,
checkpoints, a bit-exact resume of MoCo v3 + LC, and its 2-process gloo DDP config."""

import os.path as osp
import re

import pytest
import torch

from ._training import assert_same_training_state, dist_train, load_iter, train
from conftest import CONFIG_DIR

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


def _train(config, work_dir, iters, *extra):
    return train(config, work_dir, FAST + [f'train_cfg.max_iters={iters}'], *extra)


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('mocov3_lc')
    return work_dir, _train(LC_CONFIG, work_dir, 4)


def test_mocov3_lc_demo_trains(straight):
    work_dir, log = straight
    for key in ('loss_global', 'loss_local', 'lc_valid_ratio', 'global_std'):
        assert len(re.findall(rf'Iter\(train\) \[\d/4\].*{key}: ', log)) == 4, key
    ckpt = load_iter(work_dir, 4)
    state, second = ckpt['state_dict'], load_iter(work_dir, 2)['state_dict']
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
    assert_same_training_state(load_iter(tmp_path, 4), load_iter(work_dir, 4))


def test_plain_mocov3_demo_trains_two_iterations(tmp_path):
    log = _train(BASE_CONFIG, tmp_path, 2)
    ckpt = load_iter(tmp_path, 2)
    assert 'loss:' in log and 'loss_local' not in log
    assert ckpt['meta']['iter'] == 2 and int(ckpt['state_dict']['momentum_encoder.steps']) == 2
    assert not any(k.startswith('local_neck.') for k in ckpt['state_dict'])


def test_mocov3_lc_two_process_gloo_ddp(tmp_path):
    opts = [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2'
    ]
    log = dist_train(DDP_CONFIG, tmp_path, opts)
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'loss_local' in log and 'DeviceAgnosticDDP' in log
    state = load_iter(tmp_path, 2)['state_dict']
    assert int(state['momentum_encoder.steps']) == int(state['target_local_neck.steps']) == 2

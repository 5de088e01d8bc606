# Copyright (c) mmlc contributors. All rights reserved.
"""The DINO + LC CPU config through tools/train.py and mmengine's Runner: both losses, both EMAs, DINO's hooks,
checkpoints, a bit-exact resume, and 2-process gloo DDP."""

import os.path as osp
import re

import pytest
import torch

from ._training import assert_same_training_state, dist_train, load_iter, train
from conftest import CONFIG_DIR

CONFIG = osp.join(CONFIG_DIR, 'dino_lc', 'dino-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')
DDP_CONFIG = osp.join(CONFIG_DIR, 'dino_lc', 'dino-lc_vit-tiny-p16_2xb4-coslr-300i_bundled-photos-cpu-ddp.py')
# As tests/test_tools/test_dino_train.py: 4 images per step, no worker processes, every value logged as it is; the
# last layer stays frozen for 2 iterations. No stochastic depth: mmengine's resume does not restore torch's random
# state, and the resume test compares the two runs bit for bit.
OPTS = [
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1', 'log_processor.window_size=1', 'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=2', 'custom_hooks.1.freeze=2', 'train_cfg.max_iters=4',
    'model.backbone.drop_path_rate=0.'
]
V = 'neck.last_layer.parametrizations.weight.original1'  # the prototypes' direction parameters


def _train(work_dir, *extra):
    return train(CONFIG, work_dir, OPTS, *extra)


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('dino_lc')
    return work_dir, _train(work_dir)


def test_trains_with_both_losses_and_dinos_hooks(straight):
    work_dir, log = straight
    for key in ('loss_global', 'loss_local', 'lc_valid_ratio', 'local_std', 'teacher_temp'):
        assert len(re.findall(rf'Iter\(train\) \[\d/4\].*{key}: ', log)) == 4, key
    second, fourth = load_iter(work_dir, 2)['state_dict'], load_iter(work_dir, 4)['state_dict']
    # Both EMAs took every step; the local branch works on the 4 x 4 patch map of the 64 px global views.
    assert int(fourth['teacher.steps']) == int(fourth['target_local_neck.steps']) == 4
    assert fourth['local_neck.conv1.weight'].shape == (192, 192, 1, 1)
    assert fourth['backbone.pos_embed'].shape == (1, 1 + 4 * 4, 192)
    assert not torch.equal(fourth['local_neck.conv1.weight'], second['local_neck.conv1.weight'])
    # DINO's last-layer freeze still acts: frozen for iterations 0 and 1, so its EMA equals it at iteration 2.
    torch.testing.assert_close(second['teacher.module.1.' + V[len('neck.'):]], second[V])
    assert not torch.equal(fourth[V], second[V])


def test_resume_reproduces_the_uninterrupted_run(straight, tmp_path):
    work_dir, _ = straight
    log = _train(tmp_path, '--resume', osp.join(work_dir, 'iter_2.pth'))
    assert 'resumed' in log.lower() and not osp.exists(osp.join(tmp_path, 'iter_2.pth'))
    assert len(re.findall(r'Iter\(train\) \[\d/4\]', log)) == 2  # iterations 2 and 3 only
    # Student, teacher, local branch and its EMA twin (with their step counts), the centre, BN statistics and AdamW's
    # moments come out bit for bit the same.
    assert_same_training_state(load_iter(tmp_path, 4), load_iter(work_dir, 4))


def test_two_process_gloo_ddp(tmp_path):
    opts = [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2'
    ]
    log = dist_train(DDP_CONFIG, tmp_path, opts)
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'loss_local' in log and 'DeviceAgnosticDDP' in log
    state = load_iter(tmp_path, 2)['state_dict']
    assert int(state['teacher.steps']) == int(state['target_local_neck.steps']) == 2
    assert state['head.center'].abs().sum() > 0

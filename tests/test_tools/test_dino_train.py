# Copyright (c) mmlc contributors. All rights reserved.
"""The CPU DINO config through tools/train.py and mmengine's Runner: hooks in effect, checkpoints, resume."""

import os.path as osp
import re

import pytest
import torch

from ._training import assert_same_training_state, load_iter, train
from conftest import CONFIG_DIR

CONFIG = osp.join(CONFIG_DIR, 'dino', 'dino_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')
# Small and fast: 4 images per step, no worker processes, every value logged as it is (no smoothing window); the
# teacher temperature warms up 0.04 -> 0.07 over iterations 0..2 and the last layer stays frozen for 2 iterations.
# No stochastic depth: mmengine's resume does not restore torch's random state, so drop-path masks after a resume
# differ from an uninterrupted run's (measured: the resumed loss differs at the first resumed iteration), and the
# resume test compares the two runs bit for bit.
OPTS = [
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1', 'log_processor.window_size=1', 'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=2', 'custom_hooks.0.warmup=3', 'custom_hooks.0.temp=0.07',
    'custom_hooks.1.freeze=2', 'train_cfg.max_iters=4', 'model.backbone.drop_path_rate=0.'
]
V = 'neck.last_layer.parametrizations.weight.original1'  # the prototypes' direction parameters


def _train(work_dir, *extra):
    return train(CONFIG, work_dir, OPTS, *extra)


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('dino')
    return work_dir, _train(work_dir)


def test_trains_with_the_teacher_temperature_warm_up(straight):
    _, log = straight
    temps = [float(t) for t in re.findall(r'Iter\(train\) \[\d/4\].*teacher_temp: ([0-9.]+)', log)]
    assert temps == pytest.approx([0.04, 0.055, 0.07, 0.07], abs=1e-4)
    losses = [float(v) for v in re.findall(r'Iter\(train\) \[\d/4\].*?  loss: ([0-9.]+)', log)]
    assert len(losses) == 4


def test_last_layer_frozen_then_trained_and_teacher_is_an_ema(straight):
    work_dir, _ = straight
    second, fourth = load_iter(work_dir, 2)['state_dict'], load_iter(work_dir, 4)['state_dict']
    # Frozen for iterations 0 and 1: the student's prototypes are still their initial values, so their EMA (the
    # teacher's) equals them, while the rest of the student has moved away from its teacher.
    torch.testing.assert_close(second['teacher.module.1.' + V[len('neck.'):]], second[V])
    assert not torch.allclose(second['teacher.module.1.mlp.0.weight'], second['neck.mlp.0.weight'])
    assert not torch.equal(fourth[V], second[V])  # trained from iteration 2 on
    assert int(fourth['teacher.steps']) == 4
    assert fourth['head.center'].abs().sum() > 0 and not torch.equal(fourth['head.center'], second['head.center'])
    assert not any(k.startswith('target') for k in fourth)


def test_resume_reproduces_the_uninterrupted_run(straight, tmp_path):
    work_dir, _ = straight
    log = _train(tmp_path, '--resume', osp.join(work_dir, 'iter_2.pth'))
    assert 'resumed' in log.lower() and not osp.exists(osp.join(tmp_path, 'iter_2.pth'))
    temps = [float(t) for t in re.findall(r'Iter\(train\) \[\d/4\].*teacher_temp: ([0-9.]+)', log)]
    assert temps == pytest.approx([0.07, 0.07], abs=1e-4)  # iterations 2 and 3 only
    # Student, teacher (EMA and its step count), the centre, and AdamW's moments come out bit for bit the same.
    assert_same_training_state(load_iter(tmp_path, 4), load_iter(work_dir, 4))

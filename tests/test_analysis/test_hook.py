# Copyright (c) mmlc contributors. All rights reserved.
"""The online correspondence-accuracy hook: logs a scalar, changes nothing in the model or RNG."""
import copy
import glob
import json
import os.path as osp
import random
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmpretrain.registry import HOOKS, MODELS

import mmlc  # noqa: F401
from mmlc.datasets import SKIMAGE_PHOTOS
from mmlc.engine.hooks import HELD_OUT_SKIMAGE, CorrespondenceAccuracyHook
from conftest import DEMO_CONFIG, REPO_ROOT


def _runner(model, name):
    return SimpleNamespace(model=model, message_hub=MessageHub.get_instance(name),
                           logger=MMLogger.get_instance(name), iter=0)


def test_registered_and_held_out():
    assert HOOKS.get('CorrespondenceAccuracyHook') is CorrespondenceAccuracyHook
    assert not set(HELD_OUT_SKIMAGE) & set(SKIMAGE_PHOTOS)  # not the demo's training images
    with pytest.raises(ValueError, match='loss'):
        CorrespondenceAccuracyHook(name='corr_loss')


def test_hook_logs_a_scalar_and_changes_no_weights():
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(Config.fromfile(DEMO_CONFIG).model))
    model.train()
    model.backbone.layer1.eval()  # a mixed state, which must come back exactly
    flags = {n: m.training for n, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    runner = _runner(model, 'test_hook_scalar')
    hook = CorrespondenceAccuracyHook(interval=3, names=HELD_OUT_SKIMAGE[:2], size=64, use_local_neck=True)

    np.random.seed(7)
    random.seed(7)
    rng_state = (np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state())
    hook.before_train(runner)  # prepares the pairs and measures once
    buffer = runner.message_hub.get_scalar('train/corr_acc')
    assert len(buffer.data[0]) == 1 and 0 <= buffer.current() <= 1
    for it in range(6):  # iterations 1..6: evaluates after the 3rd and the 6th
        runner.iter = it
        hook.after_train_iter(runner, batch_idx=it)
    assert len(runner.message_hub.get_scalar('train/corr_acc').data[0]) == 3

    assert (np.random.get_state()[1] == rng_state[0]).all() and random.getstate() == rng_state[1]
    assert torch.equal(torch.get_rng_state(), rng_state[2])
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # BN running stats included
    assert {n: m.training for n, m in model.named_modules()} == flags
    assert all(p.grad is None for p in model.parameters())


def test_demo_training_logs_the_metric(tmp_path):
    # The demo config enables the hook; run two tiny iterations with it measuring every iteration.
    opts = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1',
            'train_dataloader.dataset.pipeline.1.size=64', 'train_cfg.max_iters=2',
            'default_hooks.checkpoint.interval=2', 'custom_hooks.0.interval=1', 'custom_hooks.0.size=64']
    env = dict(__import__('os').environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), DEMO_CONFIG, '--work-dir', str(tmp_path),
           '--cfg-options', *opts]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'corr_acc (iter 0)' in log and 'corr_acc (iter 2)' in log
    scalars = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    assert scalars
    rows = [json.loads(line) for line in open(scalars[0])]
    assert [r['step'] for r in rows if 'corr_acc' in r] == [1, 2]
    # The same scalars went to TensorBoard (the demo's second visualisation backend).
    events = glob.glob(osp.join(osp.dirname(scalars[0]), 'events.out.tfevents.*'))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(events[0])
    acc.Reload()
    assert [e.step for e in acc.Scalars('corr_acc')] == [1, 2]

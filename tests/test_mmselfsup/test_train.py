# Copyright (c) mmlc contributors. All rights reserved.
"""The MMSelfSup-hosted demo through tools/train.py and tools/dist_train.sh (mmengine's Runner, default scope
``mmselfsup``, a typed loop config): it trains, logs both losses and the online correspondence metric, and its
checkpoint loads strictly into the mmpretrain-hosted model."""

import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from test_tools._training import dist_train, load_iter, train

from conftest import CONFIG_DIR, DEMO_CONFIG, load_script

pytest.importorskip('mmselfsup')

SS_DEMO = osp.join(CONFIG_DIR, 'mmselfsup', 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py')
SS_DDP = osp.join(CONFIG_DIR, 'mmselfsup', 'byol-lc_resnet18_2xb4-coslr-300i_bundled-photos-cpu-ddp.py')
# Small and fast: 64 px views, no worker processes; the held-out correspondence metric at the start only.
FAST = [
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1',
    'train_dataloader.dataset.pipeline.1.size=64', 'custom_hooks.0.size=64', 'custom_hooks.1.max_images=2'
]


def _pretrain_demo_model():
    cfg = Config.fromfile(DEMO_CONFIG)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(copy.deepcopy(cfg.model))


def test_demo_trains_and_its_checkpoint_loads_in_the_mmpretrain_host(tmp_path):
    opts = FAST + ['train_dataloader.batch_size=4', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']
    log = train(SS_DEMO, tmp_path, opts)
    for key in ('loss_global', 'loss_local', 'lc_valid_ratio', 'eta', 'corr (iter 0', 'local_acc'):
        assert key in log, key
    # The hook read the MMSelfSup-hosted model's backbone and local neck (2 x 2 cells at 64 px: chance 1/4).
    with open(tmp_path / 'corr.jsonl') as f:
        record = json.loads(f.readline())
    assert record['iter'] == 0 and record['map'] == '2x2' and record['num_images'] == 8
    assert 0 <= record['acc'] <= 1 and 0 <= record['local_acc'] <= 1
    ckpt = load_iter(tmp_path, 2)
    assert ckpt['meta']['iter'] == 2
    state = ckpt['state_dict']
    assert int(state['target_net.steps']) == int(state['target_local_neck.steps']) == 2
    model = _pretrain_demo_model()
    model.load_state_dict(state, strict=True)
    assert all(v.equal(state[k]) for k, v in model.state_dict().items())
    # The backbone exporter reads it as it reads an mmpretrain-hosted checkpoint (weights_only=True).
    out = tmp_path / 'backbone.pth'
    load_script('tools/model_converters/extract_backbone.py').main([str(tmp_path / 'iter_2.pth'), str(out)])
    backbone = torch.load(out, weights_only=True)
    assert backbone.keys() == model.backbone.state_dict().keys()
    assert all(v.equal(state[f'backbone.{k}']) for k, v in backbone.items())


def test_two_process_gloo_ddp(tmp_path):
    opts = FAST + ['train_dataloader.batch_size=2', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']
    log = dist_train(SS_DDP, tmp_path, opts)
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'loss_local' in log
    ckpt = load_iter(tmp_path, 2)
    assert ckpt['meta']['iter'] == 2
    _pretrain_demo_model().load_state_dict(ckpt['state_dict'], strict=True)

# Copyright (c) mmlc contributors. All rights reserved.
"""The mid-scale recipe (docs/mid_scale.md): the paper's recipe with exactly the intended deltas."""

import os.path as osp

import pytest
from mmengine.config import Config

from conftest import BYOL_LC_DIR

MID = {'byol': 'byol_resnet50_8xb256-coslr-200e_in100.py', 'lc': 'byol-lc_resnet50_8xb256-coslr-200e_in100.py'}
FULL = {'byol': 'byol_resnet50_16xb256-coslr-400e_in1k.py', 'lc': 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'}


def load(name):
    return Config.fromfile(osp.join(BYOL_LC_DIR, name))


@pytest.mark.parametrize('kind', ['byol', 'lc'])
def test_mid_scale_recipe(kind):
    mid, full = load(MID[kind]), load(FULL[kind])
    gpus, batch = 8, mid.train_dataloader.batch_size
    assert batch == 256
    # LARS lr by the paper's linear rule, base 0.3 per 256 images; auto-scaling starts from the same pair.
    assert mid.optim_wrapper.optimizer.lr == pytest.approx(0.3 * gpus * batch / 256) == pytest.approx(2.4)
    assert mid.auto_scale_lr.base_batch_size == gpus * batch
    assert mid.optim_wrapper.optimizer.lr / mid.auto_scale_lr.base_batch_size == pytest.approx(
        full.optim_wrapper.optimizer.lr / full.auto_scale_lr.base_batch_size)
    # 200 epochs, warm-up with the paper's share (10 of 400), cosine to the end.
    warmup, cosine = mid.param_scheduler
    full_warmup = full.param_scheduler[0]
    assert mid.train_cfg.max_epochs == 200
    assert warmup.end / mid.train_cfg.max_epochs == full_warmup.end / full.train_cfg.max_epochs
    assert (warmup.type, warmup.start_factor, cosine.type, cosine.begin, cosine.end,
            cosine.T_max) == ('LinearLR', full_warmup.start_factor, 'CosineAnnealingLR', warmup.end, 200,
                              200 - warmup.end)
    assert mid.train_dataloader.dataset.data_root == mid.data_root == 'data/imagenet100/'
    assert mid.default_hooks.checkpoint.interval == 10  # an epoch is ~62 steps
    # Everything else is the paper's recipe as the 16-GPU ImageNet-1k config has it: with the intended deltas
    # put back, the two configs are identical.
    mid, full = mid.to_dict(), full.to_dict()
    for cfg in (mid, full):
        cfg['optim_wrapper']['optimizer'].pop('lr')
        cfg['train_dataloader']['dataset'].pop('data_root')
        cfg['default_hooks']['checkpoint'].pop('interval')
        for key in ('param_scheduler', 'train_cfg', 'auto_scale_lr', 'data_root'):
            cfg.pop(key, None)
    assert mid == full


def test_byol_and_lc_share_the_mid_scale_schedule():
    byol, lc = load(MID['byol']), load(MID['lc'])
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr', 'default_hooks'):
        assert byol[key] == lc[key]
    assert byol.train_dataloader.dataset.data_root == lc.train_dataloader.dataset.data_root
    assert (byol.model.type, lc.model.type) == ('BYOL', 'BYOLLocalContrast')

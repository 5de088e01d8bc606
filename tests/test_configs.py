# Copyright (c) mmlc contributors. All rights reserved.
"""Every config loads and builds its model; the paper's recipe has the paper's numbers."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS

import mmlc  # noqa: F401
from conftest import CONFIG_DIR, DEMO_CONFIG

CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))


def test_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    for name in ['byol_lc_r50_16xb256-400e.py', 'byol_lc_r50_16xb256-100e.py', 'byol_lc_r50_16xb256-200e.py',
                 'byol_lc_r50_16xb256-200e_160px.py', 'byol_r50_16xb256-400e.py',
                 'byol_lc_r50_16xb256-200e_local-mse.py', 'byol_lc_r18_1xb8-300i_skimage.py',
                 'byol_lc_r18_2xb4-300i_skimage_cpu-ddp.py'] + [
                     f'byol_lc_r50_16xb256-200e_160px_alpha{a}.py' for a in ('0.05', '0.3', '0.7')]:
        assert name in names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    expected = 'BYOL' if osp.basename(path).startswith('byol_r50') else 'BYOLLocalContrast'
    assert type(model).__name__ == expected


def test_paper_recipe():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'byol_lc_r50_16xb256-400e.py'))
    assert cfg.custom_imports == dict(imports=['mmlc'], allow_failed_imports=False)
    m = cfg.model
    assert (m.type, m.alpha, m.base_momentum, m.backbone.depth) == ('BYOLLocalContrast', 0.1, 0.004, 50)
    assert (m.neck.hid_channels, m.neck.out_channels, m.head.predictor.hid_channels) == (4096, 256, 4096)
    assert (m.local_neck.in_channels, m.local_neck.hid_channels, m.local_neck.out_channels) == (2048, 2048, 256)
    assert cfg.train_dataloader.batch_size == 256 and cfg.auto_scale_lr.base_batch_size == 4096
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper'
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.momentum, opt.optimizer.weight_decay) == (
        'LARS', 4.8, 0.9, 1e-6)
    keys = opt.paramwise_cfg.custom_keys
    assert keys['bn'] == keys['bias'] == dict(decay_mult=0, lars_exclude=True)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, cosine.type, cosine.begin, cosine.end) == ('LinearLR', 10, 'CosineAnnealingLR',
                                                                                10, 400)
    assert cfg.train_cfg.max_epochs == 400
    ds = cfg.train_dataloader.dataset
    assert (ds.type, ds.data_root, ds.split) == ('ImageNet', 'data/imagenet/', 'train')
    assert [t['type'] for t in ds.pipeline] == ['LoadImageOrSkip', 'PairedCorrespondenceTransform', 'PackInputs']
    assert ds.pipeline[1]['size'] == 224
    assert {b['type'] for b in cfg.visualizer.vis_backends} == {'LocalVisBackend', 'TensorboardVisBackend'}


@pytest.mark.parametrize('name, epochs, size, alpha, loss_type', [
    ('byol_lc_r50_16xb256-100e.py', 100, 224, 0.1, 'contrastive'),
    ('byol_lc_r50_16xb256-200e.py', 200, 224, 0.1, 'contrastive'),
    ('byol_lc_r50_16xb256-200e_160px.py', 200, 160, 0.1, 'contrastive'),
    ('byol_lc_r50_16xb256-200e_160px_alpha0.05.py', 200, 160, 0.05, 'contrastive'),
    ('byol_lc_r50_16xb256-200e_160px_alpha0.3.py', 200, 160, 0.3, 'contrastive'),
    ('byol_lc_r50_16xb256-200e_160px_alpha0.7.py', 200, 160, 0.7, 'contrastive'),
    ('byol_lc_r50_16xb256-200e_local-mse.py', 200, 224, 0.1, 'mse'),
])
def test_variants(name, epochs, size, alpha, loss_type):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[1].end == epochs and cfg.param_scheduler[1].T_max == epochs - 10
    assert cfg.train_dataloader.dataset.pipeline[1]['size'] == size
    assert cfg.model.alpha == alpha and cfg.model.local_head.get('loss_type', 'contrastive') == loss_type


def test_byol_baseline_shares_the_schedule():
    base = Config.fromfile(osp.join(CONFIG_DIR, 'byol_r50_16xb256-400e.py'))
    lc = Config.fromfile(osp.join(CONFIG_DIR, 'byol_lc_r50_16xb256-400e.py'))
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert base[key] == lc[key]
    assert base.model.base_momentum == 0.004 and base.model.type == 'BYOL'


def test_demo_dataset_yields_paired_views():
    cfg = Config.fromfile(DEMO_CONFIG)
    init_default_scope(cfg.default_scope)  # as the Runner does
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == 10
    item = dataset[0]
    assert [tuple(v.shape) for v in item['inputs']] == [(3, 112, 112)] * 2
    sample = item['data_samples']
    assert sample.sc_box.shape == (4, ) and isinstance(sample.sc_flip, bool) and len(sample.src_shape) == 2

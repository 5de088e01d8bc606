# Copyright (c) mmlc contributors. All rights reserved.
"""Every config loads and builds its model; the paper's recipe has the paper's numbers; names follow mmpretrain's
convention."""

import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS

import mmlc  # noqa: F401
from mmlc.datasets import DEMO_TRAIN_PHOTOS
from conftest import BYOL_LC_DIR, CONFIG_DIR, DEMO_CONFIG

# Pretraining configs: every config outside the downstream benchmarks and the shared `_base_` folders.
CONFIGS = sorted(
    p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if not osp.relpath(p, CONFIG_DIR).startswith('benchmarks') and '_base_' not in p.split(osp.sep))

# mmpretrain's `{algorithm}_{backbone}_{gpus}xb{batch}-{schedule}_{data}.py`: lower case, fields joined by '-'
# inside and '_' between; the schedule ends in a length such as 400e or 300i, after optional tags (coslr, amp).
NAME_RE = re.compile(
    r'^(?P<algorithm>[a-z0-9][a-z0-9.-]*)_(?P<backbone>[a-z0-9][a-z0-9.-]*)_'
    r'(?P<gpus>\d+)xb(?P<batch>\d+)-(?:[a-z0-9.]+-)*(?P<length>\d+[eik])_(?P<data>[a-z0-9][a-z0-9.-]*)\.py$')


def test_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    for name in [
            'byol-lc_resnet50_16xb256-coslr-400e_in1k.py', 'byol-lc_resnet50_16xb256-coslr-100e_in1k.py',
            'byol-lc_resnet50_16xb256-coslr-200e_in1k.py', 'byol-lc_resnet50_16xb256-coslr-200e_in1k-160px.py',
            'byol_resnet50_16xb256-coslr-400e_in1k.py', 'byol-local-mse_resnet50_16xb256-coslr-200e_in1k.py',
            osp.basename(DEMO_CONFIG), 'byol-lc_resnet18_2xb4-coslr-300i_bundled-photos-cpu-ddp.py'
    ] + [f'byol-lc-alpha{a}_resnet50_16xb256-coslr-200e_in1k-160px.py' for a in ('0.05', '0.3', '0.7')]:
        assert name in names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_name_follows_the_convention(path):
    match = NAME_RE.match(osp.basename(path))
    convention = '{algorithm}_{backbone}_{gpus}xb{batch}-{schedule}_{data}'
    assert match, f'{osp.basename(path)} does not read {convention}'
    cfg = Config.fromfile(path)
    # The name's batch is the per-GPU batch the config sets, and its backbone the config's backbone.
    assert int(match['batch']) == cfg.train_dataloader.batch_size
    backbone = cfg.model.backbone
    if 'depth' in backbone:
        assert match['backbone'] == f'resnet{backbone.depth}'


@pytest.mark.parametrize('bad', [
    'byol_lc_r50_16xb256-400e.py', 'byol-lc_resnet50_16xb256-coslr_in1k.py',
    'byol-lc_resnet50_16x256-coslr-400e_in1k.py', 'Byol-lc_resnet50_16xb256-400e_in1k.py'
])
def test_name_check_rejects_old_style_names(bad):
    assert NAME_RE.match(bad) is None


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    # The baselines are mmpretrain's own algorithms (and mmlc's DINO), named by them, as are MoCo v3 + LC and
    # DINO + LC; everything else is BYOL + LC.
    algorithms = {
        'byol': 'BYOL',
        'densecl': 'DenseCL',
        'dino': 'DINO',
        'dino-lc': 'DINOLocalContrast',
        'mocov3': 'MoCoV3',
        'mocov3-lc': 'MoCoV3LocalContrast'
    }
    expected = algorithms.get(osp.basename(path).split('_')[0], 'BYOLLocalContrast')
    assert type(model).__name__ == expected


def test_paper_recipe():
    cfg = Config.fromfile(osp.join(BYOL_LC_DIR, 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'))
    assert cfg.custom_imports == dict(imports=['mmlc'], allow_failed_imports=False)
    m = cfg.model
    assert (m.type, m.alpha, m.base_momentum, m.backbone.depth) == ('BYOLLocalContrast', 0.1, 0.004, 50)
    assert (m.neck.hid_channels, m.neck.out_channels, m.head.predictor.hid_channels) == (4096, 256, 4096)
    assert (m.local_neck.in_channels, m.local_neck.hid_channels, m.local_neck.out_channels) == (2048, 2048, 256)
    assert cfg.train_dataloader.batch_size == 256 and cfg.auto_scale_lr.base_batch_size == 4096
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper'
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.momentum, opt.optimizer.weight_decay) == ('LARS', 4.8,
                                                                                                          0.9, 1e-6)
    keys = opt.paramwise_cfg.custom_keys
    assert keys['bn'] == keys['bias'] == dict(decay_mult=0, lars_exclude=True)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, cosine.type, cosine.begin, cosine.end) == ('LinearLR', 10, 'CosineAnnealingLR', 10,
                                                                                400)
    assert cfg.train_cfg.max_epochs == 400
    ds = cfg.train_dataloader.dataset
    assert (ds.type, ds.data_root, ds.split) == ('ImageNet', 'data/imagenet/', 'train')
    assert [t['type'] for t in ds.pipeline] == ['LoadImageOrSkip', 'PairedCorrespondenceTransform', 'PackInputs']
    assert ds.pipeline[1]['size'] == 224
    assert {b['type'] for b in cfg.visualizer.vis_backends} == {'LocalVisBackend', 'TensorboardVisBackend'}


@pytest.mark.parametrize('name, epochs, size, alpha, loss_type', [
    ('byol-lc_resnet50_16xb256-coslr-100e_in1k.py', 100, 224, 0.1, 'contrastive'),
    ('byol-lc_resnet50_16xb256-coslr-200e_in1k.py', 200, 224, 0.1, 'contrastive'),
    ('byol-lc_resnet50_16xb256-coslr-200e_in1k-160px.py', 200, 160, 0.1, 'contrastive'),
    ('byol-lc-alpha0.05_resnet50_16xb256-coslr-200e_in1k-160px.py', 200, 160, 0.05, 'contrastive'),
    ('byol-lc-alpha0.3_resnet50_16xb256-coslr-200e_in1k-160px.py', 200, 160, 0.3, 'contrastive'),
    ('byol-lc-alpha0.7_resnet50_16xb256-coslr-200e_in1k-160px.py', 200, 160, 0.7, 'contrastive'),
    ('byol-local-mse_resnet50_16xb256-coslr-200e_in1k.py', 200, 224, 0.1, 'mse'),
])
def test_variants(name, epochs, size, alpha, loss_type):
    cfg = Config.fromfile(osp.join(BYOL_LC_DIR, name))
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[1].end == epochs and cfg.param_scheduler[1].T_max == epochs - 10
    assert cfg.train_dataloader.dataset.pipeline[1]['size'] == size
    assert cfg.model.alpha == alpha and cfg.model.local_head.get('loss_type', 'contrastive') == loss_type


def test_byol_baseline_shares_the_schedule():
    base = Config.fromfile(osp.join(BYOL_LC_DIR, 'byol_resnet50_16xb256-coslr-400e_in1k.py'))
    lc = Config.fromfile(osp.join(BYOL_LC_DIR, 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'))
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert base[key] == lc[key]
    assert base.model.base_momentum == 0.004 and base.model.type == 'BYOL'


def test_demo_dataset_yields_paired_views():
    cfg = Config.fromfile(DEMO_CONFIG)
    init_default_scope(cfg.default_scope)  # as the Runner does
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == len(DEMO_TRAIN_PHOTOS) == 13
    item = dataset[0]
    assert [tuple(v.shape) for v in item['inputs']] == [(3, 192, 192)] * 2
    sample = item['data_samples']
    assert sample.sc_box.shape == (4, ) and isinstance(sample.sc_flip, bool) and len(sample.src_shape) == 2

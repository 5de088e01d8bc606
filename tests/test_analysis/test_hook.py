# Copyright (c) mmlc contributors. All rights reserved.
"""The online correspondence-accuracy hook: logs accuracy, same-position rate and collapse diagnostics of the
parts its options select, changes nothing in the model or RNG."""

import copy
import glob
import json
import os.path as osp
import random
import subprocess
import sys
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmpretrain.registry import HOOKS, MODELS

import mmlc  # noqa: F401
from mmlc.analysis import load_image
from mmlc.datasets import DEMO_HELD_OUT_PHOTOS, DEMO_TRAIN_PHOTOS, bundled_photo_path
from mmlc.engine.hooks import CorrespondenceAccuracyHook
from ._known import ConstantBackbone, PositionRBFBackbone, position_image
from conftest import BYOL_LC_DIR, DEMO_CONFIG, REPO_ROOT


def _runner(model, name, work_dir=None):
    return SimpleNamespace(
        model=model,
        message_hub=MessageHub.get_instance(name),
        logger=MMLogger.get_instance(name),
        iter=0,
        work_dir=work_dir)


def test_registered_and_held_out():
    assert HOOKS.get('CorrespondenceAccuracyHook') is CorrespondenceAccuracyHook
    assert not set(DEMO_HELD_OUT_PHOTOS) & set(DEMO_TRAIN_PHOTOS)  # not the demo's training images
    assert len(DEMO_HELD_OUT_PHOTOS) >= 8
    for name in DEMO_HELD_OUT_PHOTOS:  # colour photos: the three channels differ
        img = load_image(bundled_photo_path(name)).astype(np.int16)
        assert np.abs(img[..., 0] - img[..., 2]).mean() > 5, name
    with pytest.raises(ValueError, match='loss'):
        CorrespondenceAccuracyHook(name='corr_loss')
    with pytest.raises(ValueError, match='data_root'):
        CorrespondenceAccuracyHook(names=None)


def test_demo_tuning_hook_reads_the_training_photos():
    hooks = {h['name']: h for h in Config.fromfile(DEMO_CONFIG).custom_hooks}
    assert set(hooks['corr_train']['names']) == set(DEMO_TRAIN_PHOTOS)
    assert 'names' not in hooks['corr']  # the default: DEMO_HELD_OUT_PHOTOS


def test_hook_logs_a_scalar_and_changes_no_weights():
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(Config.fromfile(DEMO_CONFIG).model))
    model.train()
    model.backbone.layer1.eval()  # a mixed state, which must come back exactly
    flags = {n: m.training for n, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    runner = _runner(model, 'test_hook_scalar')
    hook = CorrespondenceAccuracyHook(interval=3, names=DEMO_HELD_OUT_PHOTOS[:2], size=64, use_local_neck=True)

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


class _Outputs(nn.Module):
    """A backbone whose output tuple is its parts' (first) maps, in order."""

    def __init__(self, *parts: nn.Module) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x):
        return tuple(part(x)[0] for part in self.parts)


class _Pool(nn.Module):
    """A global neck that averages the last map over space (``NonLinearNeck`` minus its MLP)."""

    def forward(self, inputs):
        return (inputs[-1].mean(dim=(2, 3)), )


class _Pick(nn.Module):
    """A local neck that passes one backbone output through unchanged (``LocalProjectionNeck``'s in_index)."""

    def __init__(self, in_index: int) -> None:
        super().__init__()
        self.in_index = in_index

    def forward(self, inputs):
        return (inputs[self.in_index], )


# Flip pairs without colour at 96 px (not the default 128), stride-16 maps: 6 x 6 cells. Two maps of known
# accuracy:
# POS (PositionRBFBackbone on position images): I_2 is exactly I_1 mirrored, so I_2's cell (y, w - 1 - x)
#   has the colour, i.e. the code, of I_1's cell (y, x) (cosine 1), while every other I_2 cell's colour is
#   at least one cell (16/96 of the range, > 4 sigma of the bumps) away (cosine < 1): every cell is matched
#   to its mirror, accuracy 1.
# CONST (ConstantBackbone): all similarities are equal, argmax takes the first, cell 0; the target of
#   (y, x) is y * w + (w - 1 - x), which is 0 only for (0, w - 1): one correct cell of h * w per image,
#   accuracy 1 / (h * w) = 1 / 36 over any number of images.
POS, CONST = 1.0, 1 / 36

# The parts of a BYOLLocalContrast model that the hook may read, each wired so that only the one its
# options select gives POS, and the ones a hook ignoring an option would read give CONST:
#   online backbone -> (POS, CONST)          target backbone (target_net.module[0]) -> (CONST, POS)
#   one local neck:  online _Pick(0) -> POS from the online outputs (CONST from the target's);
#                    target _Pick(1) -> POS from the target outputs (CONST from the online's)
#   three levels:    online [_Pick(1), _Pick(1), _Pick(0)] -> (CONST, CONST, POS) from the online outputs,
#                    target [_Pick(0), _Pick(0), _Pick(1)] -> (CONST, CONST, POS) from the target outputs;
#                    the other branch's necks give CONST at level -1 and POS at level 0.
HOOK_CASES = [  # (model kind, hook options, expected accuracy)
    ('single', dict(), CONST),  # the defaults: online backbone, last output
    ('single', dict(stage=0), POS),  # ignoring stage reads output -1
    ('single', dict(branch='target'), POS),  # ignoring branch reads the online output -1
    ('single', dict(branch='target', stage=0), CONST),
    ('single', dict(use_local_neck=True), POS),  # ignoring the neck reads online output -1
    ('single', dict(use_local_neck=True, branch='target', stage=0), POS),  # without the neck: target output 0, CONST
    ('multilevel', dict(use_local_neck=True), POS),
    ('multilevel', dict(use_local_neck=True, local_level=0), CONST),  # ignoring local_level reads level -1
    ('multilevel', dict(use_local_neck=True, branch='target', stage=0), POS),
    ('multilevel', dict(use_local_neck=True, branch='target', stage=0, local_level=0), CONST),
]


def _known_feature_model(kind: str):
    """A real BYOLLocalContrast (target_net = EMA of (backbone, neck), target_local_neck = EMA of local_neck)
    whose backbones and local necks are replaced by the known-feature parts above, with [0, 1] RGB inputs."""
    config = DEMO_CONFIG if kind == 'single' else osp.join(
        BYOL_LC_DIR, 'byol-lc-multilevel_resnet18_1xb8-coslr-300i_bundled-photos.py')
    cfg = copy.deepcopy(Config.fromfile(config).model)
    cfg.data_preprocessor = dict(type='SelfSupDataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.], to_rgb=True)
    model = MODELS.build(cfg)
    assert isinstance(model.local_neck, nn.ModuleList) == (kind == 'multilevel')
    model.backbone = _Outputs(PositionRBFBackbone(stride=16), ConstantBackbone(stride=16))
    model.target_net.module[0] = _Outputs(ConstantBackbone(stride=16), PositionRBFBackbone(stride=16))
    model.neck = model.target_net.module[1] = _Pool()
    if kind == 'single':
        model.local_neck, model.target_local_neck.module = _Pick(0), _Pick(1)
    else:
        model.local_neck = nn.ModuleList([_Pick(1), _Pick(1), _Pick(0)])
        model.target_local_neck.module = nn.ModuleList([_Pick(0), _Pick(0), _Pick(1)])
    return model.train()


def _case_id(case) -> str:
    kind, options, _ = case
    return f'{kind}-' + ('-'.join(f'{k}={v}' for k, v in options.items()) or 'defaults')


@pytest.mark.parametrize('kind,options,expected', HOOK_CASES, ids=[_case_id(c) for c in HOOK_CASES])
def test_hook_scores_the_part_its_options_select(tmp_path, kind, options, expected):
    names = []
    for i, (h, w) in enumerate([(96, 160), (128, 128), (150, 100)]):  # resized to 96 x 96 views
        names.append(f'{i}.png')
        mmcv.imwrite(position_image(h, w), str(tmp_path / names[-1]))
    model = _known_feature_model(kind)
    runner = _runner(model, f'test_hook_known_{kind}_{sorted(options.items())}')
    hook = CorrespondenceAccuracyHook(
        interval=2, data_root=str(tmp_path), names=names, size=96, colour=False, **options)
    hook.before_train(runner)  # as the Runner calls it: prepares the pairs and measures once
    for it in range(2):  # then measures after the 2nd iteration
        runner.iter = it
        hook.after_train_iter(runner, batch_idx=it)
    values = runner.message_hub.get_scalar('train/corr_acc').data[0]
    assert [float(v) for v in values] == [expected, expected]  # 3 / 108 and 1 / 36 round to the same float
    assert all(m.training for m in model.modules())  # eval mode only for the measurement


def test_hook_logs_same_position_local_part_collapse_and_a_jsonl(tmp_path, capsys):
    names = []
    for i, (h, w) in enumerate([(96, 160), (128, 128)]):
        names.append(f'{i}.png')
        mmcv.imwrite(position_image(h, w), str(tmp_path / names[-1]))
    model = _known_feature_model('single')
    runner = _runner(model, 'test_hook_all_metrics', work_dir=str(tmp_path))
    hook = CorrespondenceAccuracyHook(interval=2, data_root=str(tmp_path), names=names, size=96, colour=False)
    hook.before_train(runner)
    for it in range(2):
        runner.iter = it
        hook.after_train_iter(runner, batch_idx=it)
    runner.iter = 2
    hook.after_train(runner)

    def last(key):
        return float(runner.message_hub.get_scalar(f'train/corr_{key}').current())

    # Online backbone output -1 is CONST: every cell matches cell 0, which is its own position only for cell 0.
    assert (last('acc'), last('same_pos')) == (CONST, CONST)
    # The online local neck picks output 0 (POS): every cell matches its mirror, never its own cell (width 6).
    assert (last('local_acc'), last('local_same_pos')) == (POS, 0.)
    # Global projections of CONST maps are one vector: std 0, effective rank 1 (collapse). The POS cells are not.
    assert last('global_std') == pytest.approx(0., abs=1e-7) and last('global_erank') == pytest.approx(1., abs=1e-4)
    assert last('local_std') > 0.01 and last('local_erank') > 5
    rows = [json.loads(line) for line in open(tmp_path / 'corr.jsonl')]
    assert [r['iter'] for r in rows] == [0, 2]  # after_train at iteration 2 reuses the last measurement
    assert rows[0]['map'] == '6x6' and rows[0]['chance'] == pytest.approx(1 / 36)
    assert rows[1]['local_per_image'] == {'0.png': 1.0, '1.png': 1.0}
    hook_same = CorrespondenceAccuracyHook(
        interval=2, data_root=str(tmp_path), names=names, size=96, colour=False, stage=0, name='corr_stage0')
    hook_same.before_train(runner)
    assert float(runner.message_hub.get_scalar('train/corr_stage0_same_pos').current()) == 0.


def test_hook_warns_on_odd_or_small_maps(tmp_path):
    mmcv.imwrite(position_image(80, 80), str(tmp_path / 'a.png'))
    runner = _runner(_known_feature_model('single'), 'test_hook_warns', work_dir=str(tmp_path))
    hook = CorrespondenceAccuracyHook(data_root=str(tmp_path), names=None, size=80, colour=False)  # 5 x 5 cells
    logged = []
    runner.logger = SimpleNamespace(warning=logged.append, info=lambda msg: None)
    hook.before_train(runner)
    assert len(logged) == 1 and '5x5' in logged[0] and 'even width >= 6' in logged[0]


def test_demo_training_logs_the_metric(tmp_path):
    # The demo config enables the hook; run two tiny iterations with it measuring every iteration.
    opts = [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', 'train_dataloader.dataset.pipeline.1.size=64', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2', 'custom_hooks.0.interval=1', 'custom_hooks.0.size=64',
        'custom_hooks.1.size=64', 'custom_hooks.1.max_images=2'
    ]
    env = dict(__import__('os').environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), DEMO_CONFIG, '--work-dir',
        str(tmp_path), '--cfg-options', *opts
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'corr (iter 0,' in log and 'corr (iter 2,' in log and 'corr_train (iter 0,' in log
    assert 'corr: acc ' in log and '(iter 0: ' in log  # the closing comparison with the first measurement
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


MOCOV3_DIR = osp.join(REPO_ROOT, 'configs', 'mocov3_lc')


@pytest.mark.parametrize(
    'config,branch',
    [
        ('mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py', 'online'),
        ('mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py', 'target'),
        ('mocov3_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py', 'online'),  # class-token output, no local neck
    ])
def test_hook_reads_vit_patch_tokens_and_the_class_token(config, branch):
    """MoCo v3 (+ LC) on a ViT: accuracy from the patch-token map, the global diagnostics from the class token
    through the projector, the local ones from the local neck on the patch map; checked against the same
    quantities computed here from the model's own forward."""
    from mmlc.analysis import extractor_from_model, images_to_tensor
    from mmlc.models.utils import effective_rank, embedding_std, patch_tokens_to_map
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(MOCOV3_DIR, config))
    assert {h['name'] for h in cfg.custom_hooks} == {'corr', 'corr_train'}  # the demo's online metric
    model = MODELS.build(copy.deepcopy(cfg.model))
    runner = _runner(model, f'test_hook_vit_{config}_{branch}')
    hook = CorrespondenceAccuracyHook(names=DEMO_HELD_OUT_PHOTOS[:2], size=64, branch=branch)
    hook.before_train(runner)
    record = hook.first
    assert record['map'] == '4x4'  # 64 px / patch 16: the patch grid, class token excluded

    ema = model.momentum_encoder.module if branch == 'target' else None
    backbone, neck = (ema[0], ema[1]) if ema is not None else (model.backbone, model.neck)
    images = [p.view1 for p in hook.pairs] + [p.view2 for p in hook.pairs]
    ex = extractor_from_model(model, branch=branch)  # the model's own input normalisation, as the hook reads it
    batch = images_to_tensor(images, ex.mean, ex.std, ex.to_rgb)
    model.eval()
    with torch.no_grad():
        out_type = backbone.out_type
        backbone.out_type = 'raw'
        tokens = backbone(batch)[-1]  # (2N, 1 + 16, C)
        backbone.out_type = out_type
        projections = neck((tokens[:, 0], ))[0]
        np.testing.assert_allclose(record['global_std'], float(embedding_std(projections)), rtol=1e-4)
        np.testing.assert_allclose(record['global_erank'], float(effective_rank(projections)), rtol=1e-4)
        if 'lc' in config.split('_')[0]:
            local = model.local_neck if branch == 'online' else model.target_local_neck.module
            cells = local((patch_tokens_to_map(tokens, (4, 4), 1), ))[0].permute(0, 2, 3, 1).flatten(0, 2)
            np.testing.assert_allclose(record['local_std'], float(embedding_std(cells)), rtol=1e-4)
            assert 'local_acc' in record
        else:
            assert 'local_acc' not in record and 'local_std' not in record
    assert backbone.out_type == out_type  # the hook restored the pooled output it switched to raw tokens

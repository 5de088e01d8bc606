# Copyright (c) mmlc contributors. All rights reserved.
"""mmlc in MMSelfSup 1.0.0 (``mmlc.mmselfsup``): the same classes in both hosts' registries, the same loss and the
same training steps on the same weights and inputs, checkpoints that load either way, the crop records through
MMSelfSup's packer, and the fix for MMSelfSup's missing runner module (upstream issue #745)."""

import copy
import random
import subprocess
import sys

import mmpretrain.registry as pretrain_registry
import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
from mmpretrain.structures import DataSample

import mmlc  # noqa: F401
import mmlc.mmselfsup as lc_mmselfsup
from mmlc.models.selfsup.byol_lc import BYOLLocalContrastMixin
from mmlc.models.selfsup.local_branch import RECORD_KEYS, sample_records

mmselfsup_registry = pytest.importorskip('mmselfsup.registry')
from mmselfsup.structures import SelfSupDataSample  # noqa: E402

SS_MODELS = mmselfsup_registry.MODELS


def _neck(in_channels, norm):
    return dict(
        type='NonLinearNeck',
        in_channels=in_channels,
        hid_channels=64,
        out_channels=32,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=in_channels == 512,
        norm_cfg=dict(type=norm))


def host_cfg(host: str, alpha: float = 0.3, new_weight_momentum: float = 0.3) -> dict:
    """The same BYOL + LC model in either host's terms (only the EMA momentum is stated differently)."""
    return dict(
        type='BYOLLocalContrast',
        alpha=alpha,
        # mmpretrain: weight of the new parameters; MMSelfSup: weight of the old ones.
        base_momentum=new_weight_momentum if host == 'mmpretrain' else 1. - new_weight_momentum,
        backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')),
        neck=_neck(512, 'BN1d'),
        head=dict(type='LatentPredictHead', predictor=_neck(32, 'BN1d'), loss=dict(type='CosineSimilarityLoss')),
        local_neck=dict(
            type='LocalProjectionNeck', in_channels=512, hid_channels=64, out_channels=16, norm_cfg=dict(type='BN')),
        local_head=dict(type='LCLossHead', tau=0.2),
        data_preprocessor=dict(mean=[0, 0, 0], std=[1, 1, 1]))


def build(host: str, cfg: dict):
    registry = PRETRAIN_MODELS if host == 'mmpretrain' else SS_MODELS
    with DefaultScope.overwrite_default_scope(host):
        return registry.build(copy.deepcopy(cfg))


def records(b: int):
    """Hand-made crop records: boxes in a 150 x 200 source, every other one flipped."""
    return [(np.array([10. * k, 5., 10. * k + 100., 125.], dtype=np.float32), bool(k % 2), (150, 200, 3))
            for k in range(b)]


def samples(host: str, b: int = 3):
    """The records as each host's packer stores them: data fields of DataSample, metainfo of SelfSupDataSample."""
    out = []
    for box, flip, shape in records(b):
        if host == 'mmpretrain':
            s = DataSample()
            s.set_field(torch.as_tensor(box), 'sc_box')
            s.set_field(flip, 'sc_flip')
            s.set_field(shape, 'src_shape')
        else:
            s = SelfSupDataSample(metainfo=dict(sc_box=box, sc_flip=flip, src_shape=shape))
        out.append(s)
    return out


def views(b: int = 3, size: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, 3, size, size, generator=g), torch.randn(b, 3, size, size, generator=g)]


@pytest.fixture
def max_iters():
    """Both hosts' CosineEMA read the schedule length from the MessageHub."""
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    return 10


def test_the_shared_components_are_the_same_classes_in_both_registries():
    for registry_name, classes in lc_mmselfsup.SHARED_COMPONENTS.items():
        ss, pt = getattr(mmselfsup_registry, registry_name), getattr(pretrain_registry, registry_name)
        for cls in classes:
            assert ss.get(cls.__name__) is cls and pt.get(cls.__name__) is cls, cls.__name__
    names = {cls.__name__ for classes in lc_mmselfsup.SHARED_COMPONENTS.values() for cls in classes}
    assert {
        'LocalProjectionNeck', 'LCLossHead', 'PairedCorrespondenceTransform', 'LoadImageOrSkip',
        'CorrespondenceAccuracyHook'
    } <= names
    # BYOL + LC: each host's BYOL under one shared loss (no copy of the math).
    ss_cls, pt_cls = SS_MODELS.get('BYOLLocalContrast'), PRETRAIN_MODELS.get('BYOLLocalContrast')
    assert ss_cls is lc_mmselfsup.BYOLLocalContrast and ss_cls is not pt_cls
    assert issubclass(ss_cls, SS_MODELS.get('BYOL')) and issubclass(pt_cls, PRETRAIN_MODELS.get('BYOL'))
    assert ss_cls.loss is pt_cls.loss is BYOLLocalContrastMixin.loss


def test_checkpoints_load_strictly_either_way():
    """The documented key mapping is the identity: same keys, same shapes, in both directions."""
    pt, ss = build('mmpretrain', host_cfg('mmpretrain')), build('mmselfsup', host_cfg('mmselfsup'))
    pt_state, ss_state = pt.state_dict(), ss.state_dict()
    assert list(pt_state) == list(ss_state)
    assert all(pt_state[k].shape == ss_state[k].shape for k in pt_state)
    assert any(k.startswith('target_local_neck.') for k in pt_state)
    ss.load_state_dict(pt_state, strict=True)
    assert all(torch.equal(v, pt_state[k]) for k, v in ss.state_dict().items())
    other = build('mmselfsup', host_cfg('mmselfsup'))
    pt.load_state_dict(other.state_dict(), strict=True)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in pt.state_dict().items())


def test_both_hosts_give_the_same_losses_and_training_steps(max_iters):
    """Same weights and inputs: equal losses at every step of SGD and equal weights, EMA targets included, after it.

    The EMA momentum is large (0.3 of the new parameters) so that a convention slip in either target shows.
    """
    torch.manual_seed(0)
    pt = build('mmpretrain', host_cfg('mmpretrain'))
    ss = build('mmselfsup', host_cfg('mmselfsup'))
    ss.load_state_dict(pt.state_dict(), strict=True)
    opts = [torch.optim.SGD(m.parameters(), lr=0.2, momentum=0.9) for m in (pt, ss)]
    for step in range(4):
        inputs = views(seed=step)
        got = []
        for model, opt, host in zip((pt, ss), opts, ('mmpretrain', 'mmselfsup')):
            losses = model.loss([x.clone() for x in inputs], samples(host))
            opt.zero_grad()
            (losses['loss_global'] + losses['loss_local']).backward()
            opt.step()
            got.append(losses)
        assert got[0].keys() == got[1].keys()
        for key in got[0]:
            torch.testing.assert_close(got[1][key], got[0][key], rtol=1e-5, atol=1e-6, msg=f'step {step}: {key}')
        assert got[0]['loss_local'] > 0
    pt_state = pt.state_dict()
    assert int(pt_state['target_net.steps']) == int(pt_state['target_local_neck.steps']) == 4
    for key, value in ss.state_dict().items():
        torch.testing.assert_close(value, pt_state[key], rtol=1e-4, atol=1e-5, msg=key)
    # The EMA targets moved by the schedule (not copied, not frozen): both differ from the online weights.
    online, target = pt_state['local_neck.conv1.weight'], pt_state['target_local_neck.module.conv1.weight']
    assert not torch.allclose(online, target)


def test_alpha_zero_is_mmselfsups_byol(max_iters):
    """At alpha = 0 the global term is MMSelfSup's own BYOL loss on [I_c, I_sc], value and gradients."""
    lc = build('mmselfsup', host_cfg('mmselfsup', alpha=0.))
    byol_cfg = {k: v for k, v in host_cfg('mmselfsup').items() if k not in ('alpha', 'local_neck', 'local_head')}
    byol = build('mmselfsup', dict(byol_cfg, type='BYOL'))
    missing, unexpected = byol.load_state_dict(lc.state_dict(), strict=False)
    assert missing == [] and unexpected and all(k.startswith(('local_', 'target_local_')) for k in unexpected)
    inputs = views()
    ours = lc.loss([x.clone() for x in inputs], samples('mmselfsup'))
    theirs = byol.loss([x.clone() for x in inputs], samples('mmselfsup'))
    torch.testing.assert_close(ours['loss_global'], theirs['loss'], rtol=0, atol=0)
    assert ours['loss_local'].item() == 0
    ours['loss_global'].backward()
    theirs['loss'].backward()
    for (name, p), q in zip(lc.backbone.named_parameters(), byol.backbone.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-7, msg=name)


def test_the_momentum_conventions_are_checked():
    with pytest.raises(ValueError, match='base_momentum'):
        build('mmselfsup', dict(host_cfg('mmselfsup'), base_momentum=1.5))
    with pytest.raises(ValueError, match='alpha'):
        build('mmselfsup', dict(host_cfg('mmselfsup'), alpha=2))


def test_crop_records_travel_as_metainfo_through_mmselfsups_packer(tmp_path):
    """The same paired pipeline in both hosts: same views, same records, same correspondence grid."""
    from PIL import Image
    path = str(tmp_path / 'photo.png')
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(path)
    head = [dict(type='LoadImageOrSkip'), dict(type='PairedCorrespondenceTransform', size=64)]
    packs = dict(
        mmpretrain=dict(type='PackInputs', algorithm_keys=list(RECORD_KEYS)),
        mmselfsup=dict(type='PackSelfSupInputs', meta_keys=list(RECORD_KEYS)))
    out = {}
    for host, registry in (('mmpretrain', PRETRAIN_TRANSFORMS), ('mmselfsup', mmselfsup_registry.TRANSFORMS)):
        with DefaultScope.overwrite_default_scope(host):
            pipeline = [registry.build(copy.deepcopy(t)) for t in head + [packs[host]]]
        np.random.seed(3), random.seed(3), torch.manual_seed(3)  # the transforms draw from all three
        results = dict(img_path=path)
        for t in pipeline:
            results = t(results)
        out[host] = results
    for a, b in zip(out['mmpretrain']['inputs'], out['mmselfsup']['inputs']):
        assert torch.equal(a, b)
    pt_records = sample_records([out['mmpretrain']['data_samples']])
    ss_records = sample_records([out['mmselfsup']['data_samples']])
    assert 'sc_box' in out['mmselfsup']['data_samples'].metainfo_keys()
    for a, b in zip(pt_records, ss_records):
        assert torch.equal(a, b)
    assert tuple(ss_records[2][0].tolist()) == (90, 120)
    model = build('mmselfsup', host_cfg('mmselfsup'))
    grid = model.correspondence([out['mmselfsup']['data_samples']], (4, 4), torch.device('cpu'))
    want = build('mmpretrain', host_cfg('mmpretrain')).correspondence([out['mmpretrain']['data_samples']], (4, 4),
                                                                      torch.device('cpu'))
    assert torch.equal(grid, want)


def test_a_sample_without_records_names_both_packers():
    with pytest.raises(KeyError, match='PackSelfSupInputs'):
        sample_records([SelfSupDataSample()])


UPSTREAM_CLASH = r'''
try:
    import mmselfsup.models  # imports mmdet.models, whose re-id part imports mmpretrain.models
except KeyError as err:
    print('upstream:', err)
'''

FIXED = r'''
import importlib
import mmlc.mmselfsup as m  # mmlc imports mmpretrain.models first, then mmselfsup.models through the fix
from mmdet.registry import MODELS
from mmpretrain.models.utils.res_layer_extra_norm import ResLayerExtraNorm
print('mmdet keeps mmpretrain class:', MODELS.get('ResLayerExtraNorm') is ResLayerExtraNorm)
try:
    importlib.import_module('mmselfsup.engine.runner')
except ModuleNotFoundError as err:
    print('declared location:', err)
print('dropped:', sorted(m.DROPPED_LOCATIONS))
from mmengine.registry import LOOPS, DefaultScope
from mmengine.runner import IterBasedTrainLoop
import mmselfsup.registry as r
# What the Runner does with train_cfg = dict(type=...) when the default scope is mmselfsup.
with DefaultScope.overwrite_default_scope('mmselfsup'):
    with LOOPS.switch_scope_and_registry(None) as registry:
        print('registry is mmselfsup LOOPS:', registry is r.LOOPS)
        print('built from mmselfsup scope:', registry.get('IterBasedTrainLoop') is IterBasedTrainLoop)
'''


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_mmselfsup_models_import_next_to_mmpretrain_models():
    """``import mmselfsup.models`` fails upstream (mmdet 3.3 and mmpretrain both installed) and works through mmlc.

    Both packages register ``ResLayerExtraNorm`` into mmdet's registry; after mmlc.mmselfsup mmdet keeps mmpretrain's.
    """
    assert "upstream: 'ResLayerExtraNorm is already registered in model" in _python(UPSTREAM_CLASH)
    assert 'mmdet keeps mmpretrain class: True' in _python(FIXED)


def test_mmselfsups_missing_runner_module_is_handled():
    """Upstream issue #745: the loop/runner registries point at a module the wheel lacks; after importing
    mmlc.mmselfsup the Runner's loop lookup in MMSelfSup's scope resolves to mmengine's loop."""
    out = _python(FIXED)
    assert "declared location: No module named 'mmselfsup.engine.runner'" in out
    assert ("dropped: ['LOOPS: mmselfsup.engine.runner', 'RUNNERS: mmselfsup.engine.runner', "
            "'RUNNER_CONSTRUCTORS: mmselfsup.engine.runner']") in out
    assert 'registry is mmselfsup LOOPS: True' in out and 'built from mmselfsup scope: True' in out


def test_import_mmlc_alone_serves_both_hosts():
    """Where MMSelfSup is installed, ``import mmlc`` registers into its registries too (no second import needed)."""
    out = _python('import sys, mmlc, mmselfsup.registry as r\n'
                  "m = sys.modules.get('mmlc.mmselfsup')\n"
                  "print(m is not None, r.MODELS.get('BYOLLocalContrast') is getattr(m, 'BYOLLocalContrast', 0), "
                  "r.TRANSFORMS.get('PairedCorrespondenceTransform') is mmlc.datasets.PairedCorrespondenceTransform)")
    assert out.split() == ['True', 'True', 'True']

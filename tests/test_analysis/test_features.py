# Copyright (c) mmlc contributors. All rights reserved.
"""Feature extraction from the three checkpoint kinds, checked against the networks that wrote them."""

import copy
import os.path as osp

import numpy as np
import pytest
import torch
import torchvision
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmlc  # noqa: F401
from mmlc.analysis import (build_feature_extractor, extractor_from_model, images_to_tensor, infer_resnet_config,
                           load_checkpoint_state, split_checkpoint_state)
from conftest import BYOL_LC_DIR, DEMO_CONFIG

IMAGES = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(2)]


def _perturb_bn_stats(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial running statistics, so a BN that was not loaded would show."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def _stages(tv: torchvision.models.ResNet, x: torch.Tensor):
    """torchvision's own forward up to each stage: the independent reference."""
    x = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
    outs = []
    for layer in (tv.layer1, tv.layer2, tv.layer3, tv.layer4):
        x = layer(x)
        outs.append(x)
    return outs


def test_torchvision_state_dict_gives_torchvision_features(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.resnet18()
    _perturb_bn_stats(tv, 0)
    tv.eval()
    path = tmp_path / 'resnet18_tv.pth'
    torch.save(tv.state_dict(), path)
    x = images_to_tensor(IMAGES, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
    with torch.no_grad():
        ref = _stages(tv, x)
    for stage in (1, -1):
        extractor = build_feature_extractor(str(path), None, stage=stage)
        torch.testing.assert_close(extractor.extract(IMAGES), ref[stage], rtol=1e-4, atol=1e-4)
    # 'auto' is the same as no config.
    torch.testing.assert_close(
        build_feature_extractor(str(path), 'auto').extract(IMAGES), ref[-1], rtol=1e-4, atol=1e-4)


def test_images_to_tensor_converts_bgr_and_normalises():
    img = np.zeros((1, 2, 3), dtype=np.uint8)
    img[..., 0], img[..., 2] = 10, 200  # B = 10, R = 200
    out = images_to_tensor([img], mean=(100., 0., 0.), std=(2., 1., 1.), to_rgb=True)
    assert out.shape == (1, 3, 1, 2)
    assert out[0, 0, 0, 0] == (200 - 100) / 2 and out[0, 2, 0, 0] == 10


@pytest.mark.parametrize('depth', [18, 50])
def test_resnet_depth_is_inferred_from_the_weights(depth):
    state = getattr(torchvision.models, f'resnet{depth}')().state_dict()
    backbone, neck = split_checkpoint_state(state)
    assert 'fc.weight' not in backbone and not neck
    assert infer_resnet_config(backbone)['depth'] == depth
    assert infer_resnet_config(backbone)['type'] == 'ResNet'


def test_unknown_layout_is_refused(tmp_path):
    path = tmp_path / 'odd.pth'
    torch.save({'encoder.weight': torch.zeros(3)}, path)
    with pytest.raises(KeyError, match='cannot find backbone'):
        split_checkpoint_state(load_checkpoint_state(str(path)))


def _byol_model():
    neck = dict(
        type='NonLinearNeck',
        in_channels=512,
        hid_channels=64,
        out_channels=32,
        num_layers=2,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d'))
    predictor = dict(neck, in_channels=32, with_avg_pool=False)
    return MODELS.build(
        dict(
            type='BYOL',
            backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')),
            neck=neck,
            head=dict(type='LatentPredictHead', loss=dict(type='CosineSimilarityLoss'), predictor=predictor)))


def test_mmpretrain_byol_checkpoint_online_and_target(tmp_path):
    torch.manual_seed(0)
    model = _byol_model()
    _perturb_bn_stats(model.backbone, 1)
    target = model.target_net.module[0]
    with torch.no_grad():  # make the EMA target differ from the online backbone
        for p in target.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path / 'byol.pth'
    torch.save(dict(meta=dict(epoch=1, mmpretrain_version='1.2.0'), state_dict=model.state_dict()), path)

    x = images_to_tensor(IMAGES, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
    model.eval()
    with torch.no_grad():
        online_ref, target_ref = model.backbone(x)[-1], target(x)[-1]
    online = build_feature_extractor(str(path), None).extract(IMAGES)
    tgt = build_feature_extractor(str(path), None, branch='target').extract(IMAGES)
    torch.testing.assert_close(online, online_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(tgt, target_ref, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(online, tgt)
    with pytest.raises(KeyError, match='local projection'):
        build_feature_extractor(str(path), None, use_local_neck=True)


def _saved_mmlc_model(config: str, path, bn_seed: int):
    """Build the config's model with distinct BN statistics, save it as a Runner checkpoint at ``path``
    and return it in eval mode with IMAGES preprocessed as its data preprocessor would."""
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    model = MODELS.build(copy.deepcopy(cfg.model))
    _perturb_bn_stats(model, bn_seed)
    torch.save(dict(meta=dict(iter=1), state_dict=model.state_dict()), path)
    model.eval()
    mean, std = cfg.data_preprocessor.mean, cfg.data_preprocessor.std  # mmpretrain's top-level key
    return model, images_to_tensor(IMAGES, mean, std, to_rgb=True)


def test_mmlc_checkpoint_backbone_stage_and_local_projection(tmp_path):
    path = tmp_path / 'mmlc.pth'
    model, x = _saved_mmlc_model(DEMO_CONFIG, path, bn_seed=2)
    with torch.no_grad():
        feats = model.backbone(x)
        local_ref = model.local_neck(feats)[0]
    # With the config: stage -1 is the trained output, and the local projection matches.
    torch.testing.assert_close(
        build_feature_extractor(str(path), DEMO_CONFIG).extract(IMAGES), feats[-1], rtol=1e-4, atol=1e-4)
    local = build_feature_extractor(str(path), DEMO_CONFIG, use_local_neck=True).extract(IMAGES)
    torch.testing.assert_close(local, local_ref, rtol=1e-4, atol=1e-4)
    # Without a config the ResNet-18 and the neck are inferred from the weights, with the same result.
    torch.testing.assert_close(
        build_feature_extractor(str(path), None, use_local_neck=True).extract(IMAGES), local_ref, rtol=1e-4, atol=1e-4)
    # An earlier stage: (B, 128, 8, 8) at 64 px for ResNet-18's stage 1.
    assert build_feature_extractor(str(path), DEMO_CONFIG, stage=1).extract(IMAGES).shape == (2, 128, 8, 8)


def test_multilevel_mmlc_checkpoint_picks_the_requested_local_neck(tmp_path):
    config = osp.join(BYOL_LC_DIR, 'byol-lc-multilevel_resnet18_1xb8-coslr-300i_bundled-photos.py')
    path = tmp_path / 'mmlc_multi.pth'
    model, x = _saved_mmlc_model(config, path, bn_seed=3)
    with torch.no_grad():
        feats = model.backbone(x)  # stages 1, 2, 3
        refs = [neck(feats)[0] for neck in model.local_neck]
    for level in (0, 1, -1):
        for cfg_arg in (config, None):  # with the config, and inferred from the weights alone
            extractor = build_feature_extractor(str(path), cfg_arg, use_local_neck=True, local_level=level)
            torch.testing.assert_close(extractor.extract(IMAGES), refs[level], rtol=1e-4, atol=1e-4)


def _live_mmlc_model(config: str, to_rgb: bool, seed: int, normalise: bool = True):
    """The config's model as the Runner builds it (with a data preprocessor, here a distinctive one, not
    ImageNet's), in training mode, with distinct BN statistics and a target branch (EMA backbone and local
    neck) that differs from the online one."""
    torch.manual_seed(seed)
    cfg = copy.deepcopy(Config.fromfile(config).model)
    cfg.data_preprocessor = dict(type='SelfSupDataPreprocessor', to_rgb=to_rgb)
    if normalise:
        cfg.data_preprocessor.update(mean=[10., 60., 120.], std=[30., 45., 70.])
    model = MODELS.build(cfg)
    _perturb_bn_stats(model, seed)
    with torch.no_grad():
        for p in [*model.target_net.module[0].parameters(), *model.target_local_neck.module.parameters()]:
            p.mul_(1 + 0.1 * torch.randn_like(p))  # relative, so the activations keep their scale
    return model.train()


def _preprocessed(model) -> torch.Tensor:
    """IMAGES as the model's own data preprocessor turns the (B, 3, H, W) uint8 BGR batch into its inputs."""
    batch = torch.from_numpy(np.stack(IMAGES)).permute(0, 3, 1, 2)
    return model.data_preprocessor(dict(inputs=batch, data_samples=None))['inputs']


def _extract_from_model(model, **kwargs) -> torch.Tensor:
    """``extractor_from_model(...).extract(IMAGES)``, checking that it leaves the model as it was."""
    flags = {n: m.training for n, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = extractor_from_model(model, **kwargs).extract(IMAGES)
    assert {n: m.training for n, m in model.named_modules()} == flags
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # BN statistics included
    return out


@pytest.mark.parametrize('to_rgb, normalise', [(True, True), (False, True), (True, False), (False, False)])
def test_extractor_from_model_matches_direct_forwards_of_each_part(to_rgb, normalise):
    # normalise=False: a preprocessor without mean/std feeds the model raw 0-255 values, and so must the extractor
    model = _live_mmlc_model(DEMO_CONFIG, to_rgb, seed=4, normalise=normalise)
    x = _preprocessed(model)
    model.eval()  # the reference: each part's own forward, in eval mode (BN running statistics)
    with torch.no_grad():
        online, target = model.backbone(x), model.target_net.module[0](x)
        refs = {
            ('online', False): online[-1],
            ('target', False): target[-1],
            ('online', True): model.local_neck(online)[0],
            ('target', True): model.target_local_neck.module(target)[0]
        }
    model.train()
    assert not torch.allclose(refs['online', False], refs['target', False], atol=1e-3)
    assert not torch.allclose(refs['online', True], refs['target', True], atol=1e-3)
    for (branch, use_local_neck), ref in refs.items():
        out = _extract_from_model(model, branch=branch, use_local_neck=use_local_neck)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    # The extractor shares the live modules rather than copying them.
    assert extractor_from_model(model).backbone is model.backbone
    assert extractor_from_model(model, branch='target').backbone is model.target_net.module[0]


def test_extractor_from_multilevel_model_picks_the_stage_and_the_local_level():
    config = osp.join(BYOL_LC_DIR, 'byol-lc-multilevel_resnet18_1xb8-coslr-300i_bundled-photos.py')
    model = _live_mmlc_model(config, True, seed=5)
    x = _preprocessed(model)
    model.eval()
    parts = {
        'online': (model.backbone, model.local_neck),
        'target': (model.target_net.module[0], model.target_local_neck.module)
    }
    with torch.no_grad():
        refs = {}
        for branch, (backbone, necks) in parts.items():
            feats = backbone(x)  # ResNet-18 stages 1, 2, 3: 128, 256, 512 channels, 8 x 8 to 2 x 2 maps
            refs[branch] = feats, [neck(feats)[0] for neck in necks]
    model.train()
    for branch, (feats, locals_) in refs.items():
        assert [f.shape[1] for f in feats] == [128, 256, 512]
        for index in (0, 1, -1):
            torch.testing.assert_close(
                _extract_from_model(model, branch=branch, stage=index), feats[index], rtol=1e-4, atol=1e-4)
            local = _extract_from_model(model, branch=branch, use_local_neck=True, local_level=index)
            torch.testing.assert_close(local, locals_[index], rtol=1e-4, atol=1e-4)


def test_inferred_local_neck_is_the_papers_conv_bn_conv():
    # A ReLU leaves no trace in the weights: inference assumes the shipped configs' (and the paper's) reading.
    from mmlc.analysis import infer_local_neck_config
    state = {'conv1.weight': torch.zeros(6, 4, 1, 1), 'conv2.weight': torch.zeros(3, 6, 1, 1)}
    assert infer_local_neck_config(state) == dict(
        type='LocalProjectionNeck',
        in_channels=4,
        hid_channels=6,
        out_channels=3,
        norm_cfg=dict(type='BN'),
        with_relu=False)

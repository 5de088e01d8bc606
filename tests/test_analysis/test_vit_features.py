# Copyright (c) mmlc contributors. All rights reserved.
"""The analysis tools on ViT checkpoints: every dense map is checked against mmpretrain's own
``out_type='featmap'`` forward of a ViT loaded with the same weights (an independent layout path), every local
projection against the neck applied to that map."""

import copy
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS

import mmlc  # noqa: F401
from mmlc.analysis import (DenseFeatureExtractor, build_feature_extractor, evaluate_pairs, extractor_from_model,
                           images_to_tensor, infer_local_neck_config, infer_vit_config, is_vit_state,
                           load_checkpoint_state, load_image, prepare_pairs, split_checkpoint_state)
from conftest import REPO_ROOT, load_script

MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
IMAGES = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(2)]
WIDE = [np.random.default_rng(9 + i).integers(0, 256, (48, 80, 3), dtype=np.uint8) for i in range(2)]
ARCH = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
NECK = dict(type='TokenLocalProjectionNeck', in_channels=32, hid_channels=24, out_channels=16)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _vit(out_type: str = 'raw', arch=ARCH, seed: int = 0, **kwargs) -> VisionTransformer:
    """A ViT with random non-zero class / position embeddings and non-trivial LayerNorm affines, in eval mode."""
    torch.manual_seed(seed)
    vit = VisionTransformer(arch=arch, img_size=64, patch_size=16, out_type=out_type, **kwargs)
    with torch.no_grad():
        vit.pos_embed.normal_(std=0.5)
        if vit.cls_token is not None:
            vit.cls_token.normal_(std=0.5)
        for name, p in vit.named_parameters():
            if '.ln' in f'.{name}' and name.endswith('weight'):
                p.uniform_(0.5, 1.5)
    vit.eval()  # returns None for mmpretrain's backbones
    return vit


def _featmap_twin(vit: nn.Module, out_indices=-1, arch=ARCH, **kwargs) -> VisionTransformer:
    """The reference: mmpretrain's own (B, C, h, w) output of the same weights."""
    ref = VisionTransformer(
        arch=arch, img_size=64, patch_size=16, out_type='featmap', out_indices=out_indices, **kwargs)
    ref.load_state_dict(vit.state_dict())
    ref.eval()
    return ref


def _neck(norm: str = 'BN', seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    neck = MODELS.build(dict(NECK, norm_cfg=dict(type=norm)))
    with torch.no_grad():
        neck.bn.weight.uniform_(0.5, 1.5)
        neck.bn.bias.uniform_(-0.5, 0.5)
        if norm == 'BN':
            neck.bn.running_mean.uniform_(-0.3, 0.3)
            neck.bn.running_var.uniform_(0.5, 2.)
    neck.eval()
    return neck


def _save(path, state: dict, cfg_text: str = None) -> str:
    meta = dict(iter=1) if cfg_text is None else dict(iter=1, cfg=cfg_text)
    torch.save(dict(meta=meta, state_dict=state), path)
    return str(path)


def _mmlc_like_state(vit, neck, target_vit, target_neck, target_prefix='target_net.module.0.') -> dict:
    """A BYOL+LC-style state dict on a ViT: online backbone and local neck, EMA backbone and local neck."""
    state = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    state.update({f'local_neck.{k}': v for k, v in neck.state_dict().items()})
    state.update({f'{target_prefix}{k}': v for k, v in target_vit.state_dict().items()})
    state.update({f'target_local_neck.module.{k}': v for k, v in target_neck.state_dict().items()})
    state['neck.mlp.0.weight'] = torch.randn(8, 32)  # a global neck, which dense features ignore
    return state


def _reference(model: nn.Module, images, mean=MEAN, std=STD) -> torch.Tensor:
    with torch.no_grad():
        return model(images_to_tensor(images, mean, std))


def test_vit_state_is_recognised_and_its_architecture_read_off():
    vit = _vit(qkv_bias=False, final_norm=False)
    state = vit.state_dict()
    assert is_vit_state(state) and not is_vit_state({'layer1.0.conv1.weight': 0})
    cfg = infer_vit_config(state, num_heads=4)
    assert cfg['arch'] == dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)
    assert (cfg['img_size'], cfg['patch_size'], cfg['in_channels']) == (64, 16, 3)
    assert (cfg['qkv_bias'], cfg['final_norm'], cfg['with_cls_token'], cfg['pre_norm']) == (False, False, True, False)
    assert cfg['out_type'] == 'raw' and cfg['out_indices'] == (0, 1, 2)
    MODELS.build(cfg).load_state_dict(state, strict=True)  # the inferred network holds exactly these weights
    with pytest.raises(ValueError, match='num_heads'):
        infer_vit_config(state, num_heads=3)  # does not divide 32
    # A bare backbone (extract_backbone.py's mmpretrain format) is its own backbone state.
    backbone, neck = split_checkpoint_state(state)
    assert backbone.keys() == state.keys() and not neck


@pytest.mark.parametrize('images', [IMAGES, WIDE], ids=['64x64', '48x80'])
def test_checkpoint_without_config_gives_the_vits_own_patch_map(tmp_path, images):
    vit = _vit()
    path = _save(tmp_path / 'vit.pth', {f'backbone.{k}': v for k, v in vit.state_dict().items()})
    for stage, index in ((-1, -1), (0, 0), (1, 1)):  # -1: the last layer, after the final norm
        out = build_feature_extractor(path, None, stage=stage, num_heads=2).extract(images)
        ref = _reference(_featmap_twin(vit, out_indices=index), images)[0]
        assert out.shape == ref.shape == (2, 32, images[0].shape[0] // 16, images[0].shape[1] // 16)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # The head count matters (it changes the attention), so it cannot be guessed.
    other = build_feature_extractor(path, 'auto', num_heads=4).extract(images)
    assert not torch.allclose(other, _reference(_featmap_twin(vit), images)[0], atol=1e-3)
    with pytest.raises(ValueError, match='num_heads'):
        build_feature_extractor(path, None)  # no heads and no stored config


def test_heads_come_from_the_config_a_runner_checkpoint_stores(tmp_path):
    # A named arch that only MoCoV3ViT knows at build time is read by building the stored backbone config.
    arch = 'deit-tiny'  # 192-d, 12 layers, 3 heads
    torch.manual_seed(3)
    vit = MODELS.build(dict(type='MoCoV3ViT', arch=arch, img_size=32, patch_size=16))
    vit.eval()
    text = Config(
        dict(model=dict(type='MoCoV3', backbone=dict(type='MoCoV3ViT', arch=arch, img_size=32,
                                                     patch_size=16)))).pretty_text
    path = _save(tmp_path / 'mocov3.pth', {f'backbone.{k}': v for k, v in vit.state_dict().items()}, text)
    images = [img[:32, :32] for img in IMAGES]
    out = build_feature_extractor(path, None).extract(images)
    ref = VisionTransformer(arch=arch, img_size=32, patch_size=16, out_type='featmap')
    ref.load_state_dict(vit.state_dict())
    ref.eval()
    torch.testing.assert_close(out, _reference(ref, images)[0], rtol=1e-5, atol=1e-5)
    assert out.shape == (2, 192, 2, 2)


@pytest.mark.parametrize('norm', ['BN', 'LN'])
@pytest.mark.parametrize('target_prefix', ['target_net.module.0.', 'momentum_encoder.module.0.'])
def test_local_projection_and_target_branch_without_config(tmp_path, norm, target_prefix):
    vit, target_vit = _vit(seed=0), _vit(seed=1)
    neck, target_neck = _neck(norm, seed=0), _neck(norm, seed=1)
    path = _save(tmp_path / 'lc.pth', _mmlc_like_state(vit, neck, target_vit, target_neck, target_prefix))
    state = load_checkpoint_state(path)
    _, neck_state = split_checkpoint_state(state)
    assert infer_local_neck_config(neck_state, tokens=True)['norm_cfg'] == dict(type=norm)
    for branch, backbone, local in (('online', vit, neck), ('target', target_vit, target_neck)):
        featmap = _featmap_twin(backbone)
        ref_map = _reference(featmap, IMAGES)[0]
        with torch.no_grad():
            ref_local = local((ref_map, ))[0]  # the neck on mmpretrain's map: (2, 16, 4, 4)
        out_map = build_feature_extractor(path, None, branch=branch, num_heads=2).extract(IMAGES)
        out_local = build_feature_extractor(path, None, branch=branch, num_heads=2, use_local_neck=True).extract(IMAGES)
        torch.testing.assert_close(out_map, ref_map, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out_local, ref_local, rtol=1e-5, atol=1e-5)
        assert out_local.shape == (2, 16, 4, 4)
    assert not torch.allclose(
        out_local, build_feature_extractor(path, None, num_heads=2, use_local_neck=True).extract(IMAGES), atol=1e-3)


def test_config_gives_backbone_neck_and_normalisation(tmp_path):
    """A training-style config: the ViT outputs the class token (as MoCo v3's does), a SyncBN token neck, its
    own normalisation.

    The extractor still returns the patch map, after that normalisation.
    """
    mean, std = [10., 60., 120.], [30., 45., 70.]
    cfg_path = tmp_path / 'vit_lc.py'
    cfg_path.write_text(
        'model = dict(type="MoCoV3",\n'
        f'    backbone=dict(type="MoCoV3ViT", arch={ARCH!r}, img_size=64, patch_size=16, out_indices=1),\n'
        f'    local_neck=dict({", ".join(f"{k}={v!r}" for k, v in NECK.items())}, norm_cfg=dict(type="SyncBN")))\n'
        f'data_preprocessor = dict(mean={mean!r}, std={std!r}, to_rgb=True)\n')
    vit, neck = _vit(), _neck('BN')
    path = _save(tmp_path / 'lc.pth', _mmlc_like_state(vit, neck, _vit(seed=1), _neck(seed=1)))
    ref_map = _reference(_featmap_twin(vit, out_indices=1), IMAGES, mean, std)[0]
    with torch.no_grad():
        ref_local = neck((ref_map, ))[0]
    torch.testing.assert_close(
        build_feature_extractor(path, str(cfg_path), stage=1).extract(IMAGES), ref_map, rtol=1e-5, atol=1e-5)
    # The neck reads the layer the config trained it on (out_indices=1), whatever --stage says.
    local = build_feature_extractor(path, str(cfg_path), use_local_neck=True).extract(IMAGES)
    torch.testing.assert_close(local, ref_local, rtol=1e-5, atol=1e-5)


def test_mmpretrain_mocov3_checkpoint_online_and_momentum_encoder(tmp_path):
    neck = dict(
        type='NonLinearNeck',
        in_channels=32,
        hid_channels=16,
        out_channels=8,
        num_layers=2,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d'))
    model_cfg = dict(
        type='MoCoV3',
        base_momentum=0.01,
        backbone=dict(type='MoCoV3ViT', arch=ARCH, img_size=64, patch_size=16),
        neck=neck,
        head=dict(
            type='MoCoV3Head',
            predictor=dict(neck, in_channels=8),
            temperature=0.2,
            loss=dict(type='CrossEntropyLoss', loss_weight=0.4)))
    torch.manual_seed(4)
    model = MODELS.build(model_cfg)
    with torch.no_grad():
        model.backbone.pos_embed.normal_(std=0.5)
        for p in model.momentum_encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = _save(tmp_path / 'mocov3.pth', model.state_dict(), Config(dict(model=model_cfg)).pretty_text)
    for branch, backbone in (('online', model.backbone), ('target', model.momentum_encoder.module[0])):
        ref = _reference(_featmap_twin(backbone), IMAGES)[0]
        out = build_feature_extractor(path, 'auto', branch=branch).extract(IMAGES)  # heads from meta['cfg']
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_token_layout_of_live_backbones():
    assert DenseFeatureExtractor(_vit('raw')).num_extra_tokens == 1
    assert DenseFeatureExtractor(_vit('raw', with_cls_token=False)).num_extra_tokens == 0
    assert DenseFeatureExtractor(_vit('featmap')).num_extra_tokens is None  # already a map
    # A pooled ViT (MoCo v3's, DINO's class-token output) is read through its raw tokens, then restored: its
    # map equals that of the same weights built with out_type='raw'.
    pooled = _vit('cls_token')
    raw = _vit('raw')
    raw.load_state_dict(pooled.state_dict())
    extractor = DenseFeatureExtractor(pooled)
    assert extractor.num_extra_tokens == 1
    torch.testing.assert_close(extractor.extract(IMAGES), DenseFeatureExtractor(raw).extract(IMAGES))
    assert pooled.out_type == 'cls_token'


def test_vit_without_class_token(tmp_path):
    vit = _vit(with_cls_token=False)
    path = _save(tmp_path / 'nocls.pth', {f'backbone.{k}': v for k, v in vit.state_dict().items()})
    out = build_feature_extractor(path, None, num_heads=2).extract(IMAGES)
    ref = _reference(_featmap_twin(vit, with_cls_token=False), IMAGES)[0]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_extractor_from_a_live_vit_model_with_a_momentum_encoder():
    """A MoCo v3 + LC-shaped model (raw-token backbone, token neck, EMA twins), wrapped without copies."""
    model = nn.Module()
    model.backbone, model.local_neck = _vit(seed=0), _neck(seed=0)
    model.momentum_encoder = CosineEMA(nn.Sequential(_vit(seed=1), nn.Identity()), momentum=0.01)
    model.target_local_neck = CosineEMA(_neck(seed=1), momentum=0.01)
    with torch.no_grad():  # the EMA copies start equal; make them differ
        for p in [*model.momentum_encoder.parameters(), *model.target_local_neck.parameters()]:
            p.mul_(1 + 0.1 * torch.randn_like(p))
    model.train()
    for branch, backbone, neck in (('online', model.backbone, model.local_neck),
                                   ('target', model.momentum_encoder.module[0], model.target_local_neck.module)):
        backbone_copy, neck_copy = copy.deepcopy(backbone), copy.deepcopy(neck)
        neck_copy.eval()
        ref_map = _reference(_featmap_twin(backbone_copy), IMAGES)[0]
        with torch.no_grad():
            ref_local = neck_copy((ref_map, ))[0]
        torch.testing.assert_close(
            extractor_from_model(model, branch=branch).extract(IMAGES), ref_map, rtol=1e-5, atol=1e-5)
        local = extractor_from_model(model, branch=branch, use_local_neck=True).extract(IMAGES)
        torch.testing.assert_close(local, ref_local, rtol=1e-5, atol=1e-5)
    assert model.training and model.local_neck.training  # flags restored


def _vit_checkpoint_and_images(tmp_path):
    vit = _vit()
    path = _save(tmp_path / 'vit.pth', {f'backbone.{k}': v for k, v in vit.state_dict().items()})
    data = tmp_path / 'images'
    data.mkdir()
    for i in range(3):
        img = np.random.default_rng(20 + i).integers(0, 256, (80, 96, 3), dtype=np.uint8)
        mmcv.imwrite(img, str(data / f'{i}.png'))
    return vit, path, data


def test_correspondence_tool_on_a_vit_checkpoint(tmp_path):
    vit, path, data = _vit_checkpoint_and_images(tmp_path)
    tool = load_script(osp.join(REPO_ROOT, 'tools', 'analysis', 'correspondence_accuracy.py'))
    report = tool.main([
        'auto', path, '--data',
        str(data), '--size', '64', '--num-heads', '2', '--device', 'cpu', '--no-progress', '--seed', '3'
    ])
    # The same pairs scored on mmpretrain's own featmap output of the same ViT.
    reference = DenseFeatureExtractor(_featmap_twin(vit))
    pairs = prepare_pairs([load_image(str(data / f'{i}.png')) for i in range(3)],
                          mode='flip',
                          size=64,
                          colour=True,
                          seed=3,
                          names=[f'{i}.png' for i in range(3)])
    expected = evaluate_pairs(reference, pairs, progress=False)
    assert [r['accuracy'] for r in report['per_image']] == pytest.approx([r.accuracy for r in expected])
    assert [r['num_valid'] for r in report['per_image']] == [16, 16, 16]  # 4 x 4 patches at 64 px


def test_dense_probe_tool_on_a_vit_checkpoint(tmp_path):
    from .test_dense_probe import write_seg_split
    _, path, _ = _vit_checkpoint_and_images(tmp_path)
    root = tmp_path / 'seg'
    write_seg_split(root, 'train', 4, 64, seed=0)
    write_seg_split(root, 'val', 2, 64, seed=1)
    tool = load_script(osp.join(REPO_ROOT, 'tools', 'analysis', 'dense_probe.py'))
    report = tool.main([
        'auto', path, '--data',
        str(root), '--num-classes', '3', '--size', '64', '--num-heads', '2', '--mode', 'knn', '--k', '3', '--device',
        'cpu', '--no-progress'
    ])
    assert report['feature_shape'] == [32, 4, 4]  # the patch map of the last layer, class token excluded
    assert report['knn']['bank_size'] == 4 * 16 and 0 <= report['mIoU'] <= 1

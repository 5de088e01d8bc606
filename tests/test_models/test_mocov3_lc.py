# Copyright (c) mmlc contributors. All rights reserved.
"""MoCoV3LocalContrast: MoCo v3 compatibility, the LC term from the raw tokens, the token-to-grid layout through the
algorithm, gradient routing and the local target's momentum schedule."""

import copy
import math
import os.path as osp

import mmpretrain
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmlc  # noqa: F401
import mmlc.models.selfsup.mocov3_lc as mocov3_lc
from mmlc.models import local_contrastive_loss
from mmlc.models.utils import correspondence_grid, inverse_correspondence_grid
from conftest import CONFIG_DIR

ARCH = dict(embed_dims=48, num_layers=2, num_heads=3, feedforward_channels=96)
PATCH = 16
CLS = -7.  # the class token's value in the position test: it must never reach a patch map


def _neck(in_channels, num_layers):
    # MoCo v3's projector / predictor (no biases, last BN without affine), BN1d instead of SyncBN on CPU.
    return dict(
        type='NonLinearNeck',
        in_channels=in_channels,
        hid_channels=64,
        out_channels=32,
        num_layers=num_layers,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d'))


MOCOV3_CFG = dict(
    type='MoCoV3',
    base_momentum=0.01,
    backbone=dict(type='MoCoV3ViT', arch=ARCH, img_size=64, patch_size=PATCH),
    neck=_neck(48, 3),
    head=dict(
        type='MoCoV3Head',
        predictor=_neck(32, 2),
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * 0.2),
        temperature=0.2),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))


def lc_cfg(alpha=0.1, symmetric=False, backbone=None, **local_head):
    cfg = copy.deepcopy(MOCOV3_CFG)
    cfg.update(
        type='MoCoV3LocalContrast',
        alpha=alpha,
        symmetric=symmetric,
        local_neck=dict(
            type='TokenLocalProjectionNeck', in_channels=48, hid_channels=48, out_channels=16,
            norm_cfg=dict(type='BN')),
        local_head=dict(type='LCLossHead', **local_head))
    cfg['backbone'].update(backbone or {})
    return cfg


def randomise_embeddings(model):
    """Non-trivial class token and position embedding (MODELS.build leaves them at zero; init_weights would log
    every tensor)."""
    with torch.no_grad():
        model.backbone.cls_token.normal_(std=0.5)
        model.backbone.pos_embed.normal_(std=0.5)
    return model


def batch(b=3, hw=(64, 96), seed=0):
    """Two random views of size ``hw`` (non-square: a transposed patch grid cannot pass by symmetry) and crop records
    of a 150 x 200 source."""
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(b, 3, *hw, generator=g), torch.randn(b, 3, *hw, generator=g)]
    samples = []
    for k in range(b):
        s = DataSample()
        s.set_field(torch.tensor([10. * k, 5., 10. * k + 100., 125.]), 'sc_box')
        s.set_field(bool(k % 2), 'sc_flip')
        s.set_field((150, 200), 'src_shape')
        samples.append(s)
    return inputs, samples


def records_of(samples):
    return (torch.stack([s.sc_box for s in samples]), torch.tensor([s.sc_flip for s in samples]),
            torch.tensor([s.src_shape for s in samples]))


def loop_patch_map(tokens, h, w):
    """Reference layout, token by token: raw token 1 + k (after the class token) is patch (k // w, k % w)."""
    b, _, c = tokens.shape
    out = torch.empty(b, c, h, w)
    for k in range(h * w):
        out[:, :, k // w, k % w] = tokens[:, 1 + k]
    return out


def test_class_token_of_the_raw_output_is_mmpretrains_cls_token_output():
    """The premise of the design: out_type='raw' then [:, 0] is out_type='cls_token' (the final LayerNorm acts on
    the whole sequence before the output is formatted)."""
    raw = randomise_embeddings(MODELS.build(lc_cfg())).backbone
    cls = MODELS.build(MOCOV3_CFG['backbone'])
    cls.load_state_dict(raw.state_dict())
    assert (raw.out_type, cls.out_type) == ('raw', 'cls_token') and raw.final_norm
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(raw(x)[0][:, 0], cls(x)[0], rtol=0, atol=0)


def test_alpha_zero_equals_mmpretrain_mocov3_and_its_weights_load():
    torch.manual_seed(0)
    mocov3 = randomise_embeddings(MODELS.build(MOCOV3_CFG))
    lc = MODELS.build(lc_cfg(alpha=0.0))
    missing, unexpected = lc.load_state_dict(mocov3.state_dict(), strict=False)
    assert unexpected == []
    assert missing and {k.split('.')[0] for k in missing} == {'local_neck', 'target_local_neck'}
    MessageHub.get_current_instance().update_info('max_iters', 10)
    for step in range(2):  # step 0 copies the momentum encoder, step 1 moves it: both must stay equal
        inputs, samples = batch(seed=step)
        want = mocov3.loss(inputs, samples)['loss']
        got = lc.loss(inputs, samples)
        torch.testing.assert_close(got['loss_global'], want, rtol=1e-6, atol=1e-7)
        assert got['loss_local'].item() == 0.0
    for key, value in mocov3.state_dict().items():  # the same EMA and BN statistics afterwards
        torch.testing.assert_close(lc.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_mmpretrain_mocov3_demo_weights_load_into_the_lc_demo():
    """At config level: the plain MoCo v3 demo (mmpretrain's MoCoV3) and the MoCo v3 + LC demo share every
    parameter name and shape but the local branch's."""
    folder = osp.join(CONFIG_DIR, 'mocov3_lc')
    base = Config.fromfile(osp.join(folder, 'mocov3_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'))
    lc = Config.fromfile(osp.join(folder, 'mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'))
    base_model, lc_model = MODELS.build(base.model), MODELS.build(lc.model)
    assert type(base_model).__name__ == 'MoCoV3' and base_model.backbone.out_type == 'cls_token'
    missing, unexpected = lc_model.load_state_dict(base_model.state_dict(), strict=False)
    assert unexpected == [] and {k.split('.')[0] for k in missing} == {'local_neck', 'target_local_neck'}


def test_losses_are_weighted_and_the_lc_term_is_local_contrastive_loss_on_the_raw_patch_tokens():
    torch.manual_seed(0)
    ref = randomise_embeddings(MODELS.build(lc_cfg(alpha=0.0)))
    lc = MODELS.build(lc_cfg(alpha=0.3))
    lc.load_state_dict(ref.state_dict())
    inputs, samples = batch()
    ref_out, out = ref.loss(inputs, samples), lc.loss(inputs, samples)
    torch.testing.assert_close(out['loss_global'], 0.7 * ref_out['loss_global'], rtol=1e-6, atol=1e-7)
    # By hand from the raw tokens: target (momentum encoder's backbone, EMA local neck) on I_c, online on I_sc.
    h, w = 64 // PATCH, 96 // PATCH
    with torch.no_grad():
        tokens_c = lc.momentum_encoder.module[0](inputs[0])[-1]  # (B, 1 + h*w, C)
        tokens_sc = lc.backbone(inputs[1])[-1]
        target = lc.target_local_neck.module((loop_patch_map(tokens_c, h, w), ))[0]  # (B, 16, h, w)
        online = lc.local_neck((loop_patch_map(tokens_sc, h, w), ))[0]
    assert target.shape == (3, 16, 4, 6)
    grid = correspondence_grid(*records_of(samples), (h, w))
    want = local_contrastive_loss(target, online, grid, tau=0.2)
    torch.testing.assert_close(out['loss_local'], 0.3 * want, rtol=1e-5, atol=1e-6)
    # By hand: a 4 x 6 map of the 200 x 150 source has cell centres x = 16.7 + 33.3 j, y = 18.75 + 37.5 i; the crop
    # [10k, 5, 10k + 100, 125] holds y for i = 0..2 and x for j = 0..2 when k = 0 (x = 16.7, 50, 83.3 inside
    # [0, 100]), j = 0..2 for k = 1 ([10, 110]) and j = 1..3 for k = 2 ([20, 120]: 16.7 is outside, 116.7 inside):
    # 3 x 3 of 24 cells in every image.
    assert out['lc_valid_ratio'].item() == pytest.approx(9 / 24)
    assert not out['lc_valid_ratio'].requires_grad


def test_symmetric_lc_adds_the_reverse_direction_from_the_same_forward_passes():
    torch.manual_seed(1)
    lc = randomise_embeddings(MODELS.build(lc_cfg(alpha=1.0, symmetric=True)))
    inputs, samples = batch(hw=(64, 64))
    out = lc.loss(inputs, samples)
    with torch.no_grad():
        maps = [
            loop_patch_map(t, 4, 4)
            for t in (lc.momentum_encoder.module[0](inputs[0])[-1], lc.momentum_encoder.module[0](inputs[1])[-1],
                      lc.backbone(inputs[0])[-1], lc.backbone(inputs[1])[-1])
        ]
        target_c, target_sc = (lc.target_local_neck.module((m, ))[0] for m in maps[:2])
        online_c, online_sc = (lc.local_neck((m, ))[0] for m in maps[2:])
    records = records_of(samples)
    forward = local_contrastive_loss(target_c, online_sc, correspondence_grid(*records, (4, 4)))
    reverse = local_contrastive_loss(target_sc, online_c, inverse_correspondence_grid(*records, (4, 4)))
    torch.testing.assert_close(out['loss_local'], 0.5 * (forward + reverse), rtol=1e-5, atol=1e-6)
    assert out['loss_global'].item() == 0.0


def test_several_layers_each_get_their_local_neck_and_the_projector_reads_the_last_class_token():
    torch.manual_seed(2)
    cfg = lc_cfg(alpha=0.5, backbone=dict(out_indices=[0, 1]))
    cfg['local_neck'] = [dict(cfg['local_neck'], in_index=i) for i in (0, 1)]
    cfg['local_weights'] = [0.25, 0.75]
    lc = randomise_embeddings(MODELS.build(cfg))

    def as_level1(key):  # the name of a parameter in a one-level model holding level 1 (None: level 0's)
        for prefix in ('local_neck.', 'target_local_neck.module.'):
            if key.startswith((prefix + '0.', prefix + '1.')):
                return prefix + key[len(prefix) + 2:] if key[len(prefix)] == '1' else None
        return key

    ref = MODELS.build(lc_cfg(alpha=0.5))  # one output (the last layer), the same weights, level 1's local neck
    ref.load_state_dict({as_level1(k): v for k, v in lc.state_dict().items() if as_level1(k) is not None})
    inputs, samples = batch(hw=(64, 64))
    out, ref_out = lc.loss(inputs, samples), ref.loss(inputs, samples)
    torch.testing.assert_close(out['loss_global'], ref_out['loss_global'], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(out['lc_level1'], ref_out['loss_local'] / 0.5, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out['loss_local'], 0.5 * (0.25 * out['lc_level0'] + 0.75 * out['lc_level1']))
    with torch.no_grad():  # level 0 by hand: the first layer's patch tokens (before the final norm)
        target = lc.target_local_neck.module[0]((loop_patch_map(lc.momentum_encoder.module[0](inputs[0])[0], 4, 4), ))
        online = lc.local_neck[0]((loop_patch_map(lc.backbone(inputs[1])[0], 4, 4), ))
    want = local_contrastive_loss(target[0], online[0], correspondence_grid(*records_of(samples), (4, 4)))
    torch.testing.assert_close(out['lc_level0'], want, rtol=1e-5, atol=1e-6)


def _position_image(hw):
    """(1, 3, H, W): every pixel of 16 x 16 patch (r, c) holds (r, c, 100 r + c)."""
    rows = torch.arange(hw[0] // PATCH, dtype=torch.float32).repeat_interleave(PATCH)
    cols = torch.arange(hw[1] // PATCH, dtype=torch.float32).repeat_interleave(PATCH)
    r, c = rows.view(-1, 1).expand(*hw), cols.view(1, -1).expand(*hw)
    return torch.stack([r, c, 100 * r + c]).unsqueeze(0)


def _position_model():
    """MoCoV3LocalContrast whose backbone outputs token (r, c) = (r, c, 100 r + c, 0, ...): the patch embedding
    averages input channel k into channel k, position embedding, attention and FFN outputs are zero (each layer is
    the identity through its residuals), no final norm; the class token holds CLS everywhere."""
    model = MODELS.build(lc_cfg(alpha=1.0, backbone=dict(final_norm=False)))
    vit = model.backbone
    with torch.no_grad():
        for name, p in vit.named_parameters():
            p.zero_()
        for k in range(3):
            vit.patch_embed.projection.weight[k, k] = 1. / PATCH**2
        vit.cls_token.fill_(CLS)
    return model


def _captured_maps(model, hw):
    """The dense maps the online and the target local necks receive from one training loss on position images."""
    seen = {}

    def keep(name):

        def hook(module, args):
            seen.setdefault(name, args[0][0])  # args = (tuple of maps, ); returns None: the input is unchanged

        return hook

    hooks = [
        model.local_neck.register_forward_pre_hook(keep('online')),
        model.target_local_neck.module.register_forward_pre_hook(keep('target'))
    ]
    image = _position_image(hw).expand(2, -1, -1, -1)
    _, samples = batch(b=2)
    try:
        model.loss([image.clone(), image.clone()], samples)
    finally:
        for hook in hooks:
            hook.remove()
    return seen['online'], seen['target']


def _encodes_positions(feat_map):
    """Whether cell (r, c) of every image of a (B, C, h, w) map holds (r, c, 100 r + c, 0, ...)."""
    b, channels, h, w = feat_map.shape
    rows = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    cols = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w)
    want = torch.zeros(channels, h, w)
    want[0], want[1], want[2] = rows, cols, 100 * rows + cols
    return bool(torch.allclose(feat_map, want.expand(b, -1, -1, -1), rtol=0, atol=1e-3))


@pytest.mark.parametrize('hw', [(64, 96), (96, 64)])
def test_tokens_that_encode_their_position_reach_both_local_necks_on_their_cell(hw):
    model = _position_model()
    online, target = _captured_maps(model, hw)
    for feat_map in (online, target):
        assert feat_map.shape == (2, 48, hw[0] // PATCH, hw[1] // PATCH)
        assert _encodes_positions(feat_map)
        assert not (feat_map == CLS).any()  # the class token never reaches LC


def _transposed(tokens, patch_grid, num_extra_tokens=1):
    h, w = patch_grid
    b, _, c = tokens.shape
    return tokens[:, num_extra_tokens:].reshape(b, w, h, c).permute(0, 3, 2, 1)  # column-major read of the grid


def _shifted(tokens, patch_grid, num_extra_tokens=1):
    h, w = patch_grid
    b, _, c = tokens.shape
    return tokens[:, :h * w].reshape(b, h, w, c).permute(0, 3, 1, 2)  # class token kept, last patch dropped


@pytest.mark.parametrize('wrong', [_transposed, _shifted])
def test_the_position_check_catches_a_wrong_reshape_inside_the_algorithm(monkeypatch, wrong):
    monkeypatch.setattr(mocov3_lc, 'patch_tokens_to_map', wrong)
    online, target = _captured_maps(_position_model(), (64, 96))
    assert online.shape == (2, 48, 4, 6)
    assert not _encodes_positions(online) and not _encodes_positions(target)


def test_gradients_reach_the_online_branch_only():
    torch.manual_seed(0)
    lc = randomise_embeddings(MODELS.build(lc_cfg(alpha=0.5)))
    inputs, samples = batch()
    img_c, img_sc = (x.clone().requires_grad_() for x in inputs)
    out = lc.loss([img_c, img_sc], samples)
    out['loss_local'].backward(retain_graph=True)
    assert lc.local_neck.conv1.weight.grad.abs().sum() > 0
    assert lc.backbone.layers[-1].ffn.layers[1].weight.grad.abs().sum() > 0  # through the patch tokens
    # LC reads the online branch on I_sc only (the target on I_c is computed without gradient) ...
    assert img_sc.grad.abs().sum() > 0 and img_c.grad is None
    # ... and never the global projector or predictor.
    assert all(p.grad is None for p in [*lc.neck.parameters(), *lc.head.parameters()])
    out['loss_global'].backward()
    assert lc.neck.fc0.weight.grad.abs().sum() > 0 and img_c.grad.abs().sum() > 0
    assert all(p.grad is None for p in lc.momentum_encoder.parameters())
    assert all(p.grad is None for p in lc.target_local_neck.parameters())


def test_local_target_follows_the_momentum_encoders_cosine_schedule():
    torch.manual_seed(0)
    lc = randomise_embeddings(MODELS.build(lc_cfg()))
    max_iters = 10
    MessageHub.get_current_instance().update_info('max_iters', max_iters)
    inputs, samples = batch()
    lc.loss(inputs, samples)  # step 0 copies the online weights into both EMAs
    torch.testing.assert_close(lc.target_local_neck.module.conv1.weight, lc.local_neck.conv1.weight)
    old_local = lc.target_local_neck.module.conv1.weight.clone()
    old_encoder = lc.momentum_encoder.module[0].patch_embed.projection.weight.clone()
    with torch.no_grad():  # move the online networks away from their EMAs
        lc.local_neck.conv1.weight.add_(1.0)
        lc.backbone.patch_embed.projection.weight.add_(1.0)
    lc.loss(inputs, samples)
    # By hand: CosineEMA's weight of the new parameters at step 1 of 10, from 0.01 to 0.
    m = 0.01 * (math.cos(math.pi * 1 / max_iters) + 1) / 2
    torch.testing.assert_close(lc.target_local_neck.module.conv1.weight,
                               (1 - m) * old_local + m * lc.local_neck.conv1.weight)
    torch.testing.assert_close(lc.momentum_encoder.module[0].patch_embed.projection.weight,
                               (1 - m) * old_encoder + m * lc.backbone.patch_embed.projection.weight)
    assert int(lc.target_local_neck.steps) == int(lc.momentum_encoder.steps) == 2


@pytest.mark.parametrize('alpha', [-0.1, 1.5, '0.1', True])
def test_alpha_outside_unit_interval_is_a_build_error(alpha):
    with pytest.raises(ValueError, match='alpha'):
        MODELS.build(lc_cfg(alpha=alpha))


@pytest.mark.parametrize('backbone, match', [
    (dict(out_type='cls_token'), 'out_type'),
    (dict(out_type='featmap'), 'out_type'),
    (dict(with_cls_token=False), 'class token'),
])
def test_backbones_without_class_and_patch_tokens_are_refused(backbone, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(lc_cfg(backbone=backbone))


# --- ResNet backbone: the global projector pools the last map, LC reads the map(s) of the same pass -------------


def resnet_mocov3_cfg(out_indices=(3, )):
    """mmpretrain's MoCo v3 ResNet recipe (its projector pools the last map) on a ResNet-18, plain BN on CPU."""
    cfg = copy.deepcopy(MOCOV3_CFG)
    cfg['backbone'] = dict(type='ResNet', depth=18, out_indices=out_indices, norm_cfg=dict(type='BN'))
    cfg['neck'] = dict(_neck(512, 2), with_avg_pool=True)
    return cfg


def resnet_lc_cfg(alpha=0.1, out_indices=(3, ), levels=(-1, ), **kwargs):
    cfg = resnet_mocov3_cfg(out_indices)
    channels = [64 * 2**stage for stage in out_indices]  # ResNet-18's stage widths
    local_necks = [
        dict(
            type='LocalProjectionNeck',
            in_channels=channels[i],
            hid_channels=32,
            out_channels=16,
            in_index=i,
            norm_cfg=dict(type='BN')) for i in levels
    ]
    cfg.update(
        type='MoCoV3LocalContrast',
        alpha=alpha,
        local_neck=local_necks[0] if len(local_necks) == 1 else local_necks,
        local_head=dict(type='LCLossHead'),
        **kwargs)
    return cfg


def test_resnet_alpha_zero_equals_mmpretrain_mocov3_and_its_weights_load():
    torch.manual_seed(0)
    mocov3 = MODELS.build(resnet_mocov3_cfg())
    lc = MODELS.build(resnet_lc_cfg(alpha=0.0))
    missing, unexpected = lc.load_state_dict(mocov3.state_dict(), strict=False)
    assert unexpected == []
    assert missing and {k.split('.')[0] for k in missing} == {'local_neck', 'target_local_neck'}
    MessageHub.get_current_instance().update_info('max_iters', 10)
    for step in range(2):  # step 0 copies the momentum encoder, step 1 moves it: both must stay equal
        inputs, samples = batch(hw=(64, 128), seed=step)
        want = mocov3.loss(inputs, samples)['loss']
        got = lc.loss(inputs, samples)
        torch.testing.assert_close(got['loss_global'], want, rtol=1e-6, atol=1e-7)
        assert got['loss_local'].item() == 0.0
    for key, value in mocov3.state_dict().items():  # the same EMA and BN statistics afterwards
        torch.testing.assert_close(lc.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_resnet_lc_term_is_local_contrastive_loss_on_the_last_stage_maps():
    torch.manual_seed(3)
    lc = MODELS.build(resnet_lc_cfg(alpha=0.5))
    inputs, samples = batch(hw=(64, 128))
    out = lc.loss(inputs, samples)
    with torch.no_grad():  # by hand: momentum encoder's last-stage map of I_c, online one of I_sc (train mode)
        target_map = lc.momentum_encoder.module[0](inputs[0])[-1]  # (B, 512, 2, 4)
        online_map = lc.backbone(inputs[1])[-1]
        target = lc.target_local_neck.module((target_map, ))[0]  # (B, 16, 2, 4)
        online = lc.local_neck((online_map, ))[0]
    assert target_map.shape == (3, 512, 2, 4)
    want = local_contrastive_loss(target, online, correspondence_grid(*records_of(samples), (2, 4)), tau=0.2)
    torch.testing.assert_close(out['loss_local'], 0.5 * want, rtol=1e-5, atol=1e-6)
    # By hand: a 2 x 4 map of the 200 x 150 source has cell centres x = 25 + 50 j, y = 37.5 + 75 i; the crop
    # [10k, 5, 10k + 100, 125] (k = 0, 1, 2) holds both rows and the columns x = 25, 75 only: 4 of 8 cells.
    assert out['lc_valid_ratio'].item() == pytest.approx(4 / 8)


def test_resnet_projector_pools_the_last_stage_and_each_level_gets_its_local_neck():
    torch.manual_seed(4)
    lc = MODELS.build(resnet_lc_cfg(alpha=0.5, out_indices=(2, 3), levels=(0, 1), local_weights=[0.5, 0.5]))
    ref = MODELS.build(resnet_lc_cfg(alpha=0.5))  # last stage only, level 1's local neck, the same weights

    def as_level1(key):
        for prefix in ('local_neck.', 'target_local_neck.module.'):
            if key.startswith((prefix + '0.', prefix + '1.')):
                return prefix + key[len(prefix) + 2:] if key[len(prefix)] == '1' else None
        return key

    ref.load_state_dict({as_level1(k): v for k, v in lc.state_dict().items() if as_level1(k) is not None})
    inputs, samples = batch(hw=(64, 128))
    out, ref_out = lc.loss(inputs, samples), ref.loss(inputs, samples)
    torch.testing.assert_close(out['loss_global'], ref_out['loss_global'], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(out['lc_level1'], ref_out['loss_local'] / 0.5, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # level 0 by hand: stage 3's (B, 256, 4, 8) maps
        target = lc.target_local_neck.module[0]((lc.momentum_encoder.module[0](inputs[0])[0], ))[0]
        online = lc.local_neck[0]((lc.backbone(inputs[1])[0], ))[0]
    assert target.shape == (3, 16, 4, 8)
    want = local_contrastive_loss(target, online, correspondence_grid(*records_of(samples), (4, 8)))
    torch.testing.assert_close(out['lc_level0'], want, rtol=1e-5, atol=1e-6)


@MODELS.register_module(name='_PooledOnlyBackbone', force=True)
class _PooledOnlyBackbone(torch.nn.Module):
    """A backbone without dense features: (B, 512) vectors."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 512)

    def forward(self, x):
        return (self.fc(x.mean(dim=(2, 3))), )


def test_a_backbone_without_maps_is_refused_at_the_first_forward():
    cfg = resnet_lc_cfg()
    cfg['backbone'] = dict(type='_PooledOnlyBackbone')
    model = MODELS.build(cfg)
    inputs, samples = batch(hw=(64, 128))
    with pytest.raises(ValueError, match=r'\(B, C, h, w\) maps'):
        model.loss(inputs, samples)


def _unscoped(obj):
    """A config value without the ``_scope_`` tags that inheriting across packages adds."""
    if isinstance(obj, dict):
        return {k: _unscoped(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unscoped(v) for v in obj)
    return obj


def test_full_recipe_is_mmpretrains_mocov3_vit_small_plus_lc():
    ours = Config.fromfile(osp.join(CONFIG_DIR, 'mocov3_lc', 'mocov3-lc_vit-small-p16_16xb256-amp-coslr-300e_in1k.py'))
    base = Config.fromfile(
        osp.join(
            osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'mocov3',
            'mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py'))
    assert ours.custom_imports == dict(imports=['mmlc'], allow_failed_imports=False)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr', 'data_preprocessor'):
        assert _unscoped(ours[key]) == _unscoped(base[key]), key
    m = ours.model
    for key in ('backbone', 'neck', 'head', 'base_momentum'):
        assert _unscoped(m[key]) == _unscoped(base.model[key]), key
    assert (m.type, m.alpha, m.backbone.arch, m.local_head.tau) == ('MoCoV3LocalContrast', 0.1, 'mocov3-small', 0.2)
    assert (m.local_neck.type, m.local_neck.in_channels, m.local_neck.hid_channels, m.local_neck.out_channels,
            m.local_neck.with_relu) == ('TokenLocalProjectionNeck', 384, 384, 256, False)
    ds = ours.train_dataloader.dataset
    assert (ds.type, ds.split, ours.train_dataloader.batch_size) == (base.train_dataloader.dataset.type, 'train', 256)
    assert [t['type'] for t in ds.pipeline] == ['LoadImageOrSkip', 'PairedCorrespondenceTransform', 'PackInputs']
    assert ds.pipeline[1]['size'] == 224 and ds.pipeline[2]['algorithm_keys'] == ['sc_box', 'sc_flip', 'src_shape']
    # MoCo v3's ViT crops (0.08-1) are the paired transform's default I_sc crop scale.
    assert base.view_pipeline1[0]['crop_ratio_range'] == (0.08, 1.)
    assert 'scale' not in ds.pipeline[1]
    model = MODELS.build(m)
    assert model.backbone.out_type == 'raw' and model.backbone.patch_resolution == (14, 14)


def test_resnet50_recipe_is_mmpretrains_mocov3_resnet50_plus_lc():
    ours = Config.fromfile(osp.join(CONFIG_DIR, 'mocov3_lc', 'mocov3-lc_resnet50_8xb512-amp-coslr-100e_in1k.py'))
    base = Config.fromfile(
        osp.join(
            osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'mocov3',
            'mocov3_resnet50_8xb512-amp-coslr-100e_in1k.py'))
    assert ours.custom_imports == dict(imports=['mmlc'], allow_failed_imports=False)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr', 'data_preprocessor'):
        assert _unscoped(ours[key]) == _unscoped(base[key]), key
    m = ours.model
    for key in ('backbone', 'neck', 'head', 'base_momentum'):
        assert _unscoped(m[key]) == _unscoped(base.model[key]), key
    assert (m.type, m.alpha, m.local_head.tau) == ('MoCoV3LocalContrast', 0.1, 0.2)
    assert (m.local_neck.type, m.local_neck.in_channels, m.local_neck.hid_channels, m.local_neck.out_channels,
            m.local_neck.with_relu) == ('LocalProjectionNeck', 2048, 2048, 256, False)
    ds = ours.train_dataloader.dataset
    assert (ds.type, ds.split, ours.train_dataloader.batch_size) == (base.train_dataloader.dataset.type, 'train', 512)
    assert [t['type'] for t in ds.pipeline] == ['LoadImageOrSkip', 'PairedCorrespondenceTransform', 'PackInputs']
    # I_sc takes MoCo v3's ResNet crop scale (0.2, 1), not the paired transform's default (0.08, 1).
    assert ds.pipeline[1]['size'] == 224 and tuple(ds.pipeline[1]['scale']) == (0.2, 1.)
    assert ds.pipeline[2]['algorithm_keys'] == ['sc_box', 'sc_flip', 'src_shape']
    model = MODELS.build(m)
    assert type(model.backbone).__name__ == 'ResNet' and model.neck.with_avg_pool

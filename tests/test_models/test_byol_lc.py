# Copyright (c) mmlc contributors. All rights reserved.
"""BYOLLocalContrast: BYOL compatibility, loss weighting, gradient routing, and the local neck."""

import copy
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmlc  # noqa: F401
import mmlc.models.losses.local_losses as local_losses
from mmlc.models.utils import correspondence_grid, effective_rank, embedding_std
from .test_local_contrastive_loss import _random_case, reference_lc, reference_mse

BYOL_CFG = dict(
    type='BYOL',
    base_momentum=0.004,
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')),
    neck=dict(
        type='NonLinearNeck',
        in_channels=512,
        hid_channels=64,
        out_channels=32,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=32,
            hid_channels=64,
            out_channels=32,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d')),
        loss=dict(type='CosineSimilarityLoss')),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))


def lc_cfg(alpha=0.1, **local_head):
    cfg = copy.deepcopy(BYOL_CFG)
    cfg.update(
        type='BYOLLocalContrast',
        alpha=alpha,
        local_neck=dict(
            type='LocalProjectionNeck', in_channels=512, hid_channels=64, out_channels=16, norm_cfg=dict(type='BN')),
        local_head=dict(type='LCLossHead', **local_head))
    return cfg


def batch(b=3, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(b, 3, size, size, generator=g), torch.randn(b, 3, size, size, generator=g)]
    samples = []
    for k in range(b):
        s = DataSample()
        s.set_field(torch.tensor([10. * k, 5., 10. * k + 100., 125.]), 'sc_box')
        s.set_field(bool(k % 2), 'sc_flip')
        s.set_field((150, 200), 'src_shape')
        samples.append(s)
    return inputs, samples


def test_alpha_zero_equals_mmpretrain_byol_and_byol_weights_load():
    torch.manual_seed(0)
    byol = MODELS.build(BYOL_CFG)
    lc = MODELS.build(lc_cfg(alpha=0.0))
    missing, unexpected = lc.load_state_dict(byol.state_dict(), strict=False)
    assert unexpected == []
    assert missing and all(k.startswith(('local_neck.', 'target_local_neck.')) for k in missing)
    assert {k.split('.')[0] for k in missing} == {'local_neck', 'target_local_neck'}
    inputs, samples = batch()
    want = byol.loss(inputs, samples)['loss']
    got = lc.loss(inputs, samples)
    torch.testing.assert_close(got['loss_global'], want, rtol=1e-6, atol=1e-6)
    assert got['loss_local'].item() == 0.0


def test_losses_are_weighted_by_alpha():
    torch.manual_seed(0)
    ref = MODELS.build(lc_cfg(alpha=0.0))
    lc = MODELS.build(lc_cfg(alpha=0.3))
    lc.load_state_dict(ref.state_dict())
    inputs, samples = batch()
    ref_out = ref.loss(inputs, samples)
    out = lc.loss(inputs, samples)
    torch.testing.assert_close(out['loss_global'], 0.7 * ref_out['loss_global'], rtol=1e-5, atol=1e-6)
    # The local term recomputed by hand from the branches: target (EMA = online at step 0) on I_c,
    # online on I_sc, through the correspondence grid.
    with torch.no_grad():
        target = lc.target_local_neck(lc.target_net.module[0](inputs[0]))[0]
        online = lc.local_neck(lc.backbone(inputs[1]))[0]
    grid = correspondence_grid(
        torch.stack([s.sc_box for s in samples]), torch.tensor([s.sc_flip for s in samples]),
        torch.tensor([s.src_shape for s in samples]), target.shape[-2:])
    want_local = mmlc.models.local_contrastive_loss(target, online, grid, tau=0.2)
    torch.testing.assert_close(out['loss_local'], 0.3 * want_local, rtol=1e-4, atol=1e-6)
    assert 0 < out['lc_valid_ratio'] <= 1 and not out['lc_valid_ratio'].requires_grad
    # By hand: the 2x2 map's cell centres in the 200 x 150 source are x = 50, 150 and y = 37.5, 112.5; every
    # crop [10k, 5, 10k + 100, 125] holds x = 50 and both y, never x = 150: 2 of 4 cells in every image.
    assert out['lc_valid_ratio'].item() == 0.5


def test_local_target_comes_from_the_ema_neck():
    torch.manual_seed(0)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    lc = MODELS.build(lc_cfg(alpha=1.0))
    inputs, samples = batch()
    lc.loss(inputs, samples)  # step 0: the EMA copies the online local neck
    with torch.no_grad():
        lc.local_neck.conv1.weight.add_(1.0)  # from now on the online and the EMA local necks differ
    out = lc.loss(inputs, samples)  # step 1: the EMA moves only by m = 0.004 towards the online neck
    ema, online_neck = lc.target_local_neck.module, lc.local_neck
    assert not torch.allclose(ema.conv1.weight, online_neck.conv1.weight, atol=0.5)
    with torch.no_grad():
        feats_c = lc.target_net.module[0](inputs[0])
        target = ema(feats_c)[0]
        online = online_neck(lc.backbone(inputs[1]))[0]
        grid = lc.correspondence(samples, target.shape[-2:], target.device)
        want = mmlc.models.local_contrastive_loss(target, online, grid)
        with_online_target = mmlc.models.local_contrastive_loss(online_neck(feats_c)[0], online, grid)
    torch.testing.assert_close(out['loss_local'], want, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(want, with_online_target, rtol=1e-3)


def test_local_loss_trains_online_local_branch_only():
    torch.manual_seed(0)
    lc = MODELS.build(lc_cfg(alpha=1.0))
    inputs, samples = batch()
    out = lc.loss(inputs, samples)
    out['loss_local'].backward()
    assert lc.local_neck.conv1.weight.grad.abs().sum() > 0
    assert lc.backbone.layer4[1].conv2.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in lc.target_local_neck.parameters())
    assert all(p.grad is None for p in lc.target_net.parameters())
    # With alpha = 1 the global loss carries weight 0: the global projector gets zero gradient.
    assert out['loss_global'].item() == 0.0


def test_target_local_neck_follows_the_online_one_by_ema():
    torch.manual_seed(0)
    lc = MODELS.build(lc_cfg())
    MessageHub.get_current_instance().update_info('max_iters', 10)
    inputs, samples = batch()
    lc.loss(inputs, samples)  # step 0 copies the online weights
    torch.testing.assert_close(lc.target_local_neck.module.conv1.weight, lc.local_neck.conv1.weight)
    old_target = lc.target_local_neck.module.conv1.weight.clone()
    with torch.no_grad():
        lc.local_neck.conv1.weight.add_(1.0)
    lc.loss(inputs, samples)  # step 1: m = 0.004 at the start of the cosine schedule
    steps, max_iters = 1, 10
    m = 0 - (0 - 0.004) * (math.cos(math.pi * steps / max_iters) + 1) / 2
    torch.testing.assert_close(lc.target_local_neck.module.conv1.weight,
                               (1 - m) * old_target + m * lc.local_neck.conv1.weight)


@pytest.mark.parametrize('alpha', [-0.1, 1.5, '0.1'])
def test_alpha_outside_unit_interval_is_a_build_error(alpha):
    with pytest.raises(ValueError, match='alpha'):
        MODELS.build(lc_cfg(alpha=alpha))


def test_local_head_options():
    with pytest.raises(ValueError, match='loss_type'):
        MODELS.build(dict(type='LCLossHead', loss_type='l1'))
    with pytest.raises(ValueError, match='tau'):
        MODELS.build(dict(type='LCLossHead', tau=0))
    torch.manual_seed(0)
    lc = MODELS.build(lc_cfg(alpha=1.0, loss_type='mse'))
    inputs, samples = batch()
    out = lc.loss(inputs, samples)
    # Normalised MSE lies in [0, 4]; with random weights it is well inside.
    assert 0 < out['loss_local'].item() < 4


def test_local_head_passes_its_options_to_the_loss(monkeypatch):
    target, online, grid = _random_case()
    # tau and loss_type, against the loop references
    for tau in (0.2, 0.5):
        got = MODELS.build(dict(type='LCLossHead', tau=tau)).loss(target, online, grid)
        torch.testing.assert_close(got.double(), reference_lc(target, online, grid, tau), rtol=1e-5, atol=1e-6)
    got = MODELS.build(dict(type='LCLossHead', loss_type='mse')).loss(target, online, grid)
    torch.testing.assert_close(got.double(), reference_mse(target, online, grid), rtol=1e-5, atol=1e-6)
    # impl and chunk_size: a 3x4 map stays naive under 'auto' but takes the lean path when asked to
    calls = []
    real = local_losses._pair_nll_lean
    monkeypatch.setattr(local_losses, '_pair_nll_lean', lambda *a: calls.append(a[-1]) or real(*a))
    MODELS.build(dict(type='LCLossHead')).loss(target, online, grid)
    assert calls == []
    got = MODELS.build(dict(type='LCLossHead', impl='lean', chunk_size=3)).loss(target, online, grid)
    assert calls == [3]
    torch.testing.assert_close(got.double(), reference_lc(target, online, grid, 0.2), rtol=1e-5, atol=1e-6)


def test_local_loss_in_the_model_follows_the_head_options():
    torch.manual_seed(0)
    ref = MODELS.build(lc_cfg(alpha=1.0))
    inputs, samples = batch()
    for head in (dict(tau=0.5), dict(loss_type='mse')):
        lc = MODELS.build(lc_cfg(alpha=1.0, **head))
        lc.load_state_dict(ref.state_dict())
        out = lc.loss(inputs, samples)
        with torch.no_grad():
            target = lc.target_local_neck(lc.target_net.module[0](inputs[0]))[0]
            online = lc.local_neck(lc.backbone(inputs[1]))[0]
        grid = lc.correspondence(samples, target.shape[-2:], target.device)
        want = (
            reference_mse(target, online, grid) if 'loss_type' in head else reference_lc(
                target, online, grid, head['tau']))
        torch.testing.assert_close(out['loss_local'].double(), want, rtol=1e-4, atol=1e-6)


def test_local_projection_neck_shapes_and_bn_naming():
    neck = MODELS.build(
        dict(type='LocalProjectionNeck', in_channels=8, hid_channels=6, out_channels=4, norm_cfg=dict(type='BN')))
    names = [n for n, _ in neck.named_parameters()]
    assert names == ['conv1.weight', 'bn.weight', 'bn.bias', 'conv2.weight', 'conv2.bias']
    x = torch.randn(2, 8, 3, 5)
    (y, ) = neck((torch.randn(2, 3, 6, 10), x))
    assert y.shape == (2, 4, 3, 5)
    # By hand: conv1 -> BN (train mode: batch statistics) -> ReLU -> conv2.
    h = torch.einsum('oc,bchw->bohw', neck.conv1.weight[:, :, 0, 0], x)
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = h.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    gamma, beta = neck.bn.weight[None, :, None, None], neck.bn.bias[None, :, None, None]
    h = (h - mean) / torch.sqrt(var + neck.bn.eps) * gamma + beta
    h = h.clamp(min=0)
    want = torch.einsum('oc,bchw->bohw', neck.conv2.weight[:, :, 0, 0], h) + neck.conv2.bias[None, :, None, None]
    torch.testing.assert_close(y, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match='out_channels'):
        MODELS.build(dict(type='LocalProjectionNeck', out_channels=0))


def multilevel_cfg(**kwargs):
    cfg = lc_cfg(alpha=0.5)
    cfg['backbone']['out_indices'] = (2, 3)
    cfg['local_neck'] = [
        dict(
            type='LocalProjectionNeck',
            in_channels=256,
            hid_channels=32,
            out_channels=16,
            in_index=0,
            norm_cfg=dict(type='BN')),
        dict(
            type='LocalProjectionNeck',
            in_channels=512,
            hid_channels=32,
            out_channels=16,
            in_index=1,
            norm_cfg=dict(type='BN')),
    ]
    cfg.update(kwargs)
    return cfg


def test_multilevel_sums_weighted_levels():
    torch.manual_seed(0)
    model = MODELS.build(multilevel_cfg(local_weights=[0.25, 0.75]))
    assert {k.split('.')[1] for k in model.state_dict() if k.startswith('local_neck.')} == {'0', '1'}
    inputs, samples = batch()
    out = model.loss(inputs, samples)
    torch.testing.assert_close(out['loss_local'], 0.5 * (0.25 * out['lc_level0'] + 0.75 * out['lc_level1']))
    # Level 0 runs on C4 (4x4 at 64 px), level 1 on C5 (2x2): check level 0 against a direct computation.
    with torch.no_grad():
        feats_c = model.target_net.module[0](inputs[0])
        target = model.target_local_neck.module[0](feats_c)[0]
        online = model.local_neck[0](model.backbone(inputs[1]))[0]
    assert target.shape[-2:] == (4, 4)
    grid = model.correspondence(samples, target.shape[-2:], target.device)
    torch.testing.assert_close(
        out['lc_level0'], mmlc.models.local_contrastive_loss(target, online, grid), rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        target1 = model.target_local_neck.module[1](feats_c)[0]
        online1 = model.local_neck[1](model.backbone(inputs[1]))[0]
    assert target1.shape[-2:] == (2, 2)
    grid1 = model.correspondence(samples, target1.shape[-2:], target1.device)
    torch.testing.assert_close(
        out['lc_level1'], mmlc.models.local_contrastive_loss(target1, online1, grid1), rtol=1e-4, atol=1e-6)
    # By hand (200 x 150 source, crops [10k, 5, 10k + 100, 125]): the 4x4 map's centres x = 25, 75, 125, 175 and
    # y = 18.75, 56.25, 93.75, 131.25 give 2 x 3 of 16 cells inside; the 2x2 map 2 of 4.
    assert out['lc_valid_ratio_level0'].item() == 0.375
    assert out['lc_valid_ratio_level1'].item() == 0.5


def test_multilevel_weights_default_to_the_mean_over_levels():
    torch.manual_seed(0)
    model = MODELS.build(multilevel_cfg())
    out = model.loss(*batch())
    torch.testing.assert_close(out['loss_local'], 0.5 * 0.5 * (out['lc_level0'] + out['lc_level1']))


def test_multilevel_needs_one_weight_per_level():
    with pytest.raises(ValueError, match='local_weights'):
        MODELS.build(multilevel_cfg(local_weights=[1.0]))


def test_symmetric_adds_the_inverse_direction():
    torch.manual_seed(0)
    plain = MODELS.build(lc_cfg(alpha=1.0))
    sym = MODELS.build(dict(lc_cfg(alpha=1.0), symmetric=True))
    sym.load_state_dict(plain.state_dict())
    inputs, samples = batch()
    forward_only = plain.loss(inputs, samples)['loss_local']
    both = sym.loss(inputs, samples)['loss_local']
    with torch.no_grad():
        target_sc = sym.target_local_neck(sym.target_net.module[0](inputs[1]))[0]
        online_c = sym.local_neck(sym.backbone(inputs[0]))[0]
    inverse = sym.correspondence(samples, target_sc.shape[-2:], target_sc.device, inverse=True)
    backward_dir = mmlc.models.local_contrastive_loss(target_sc, online_c, inverse)
    torch.testing.assert_close(both, 0.5 * (forward_only + backward_dir), rtol=1e-4, atol=1e-6)


def test_collapse_diagnostics_in_the_loss_dict(monkeypatch):
    torch.manual_seed(0)
    model = MODELS.build(lc_cfg())
    model.train()
    seen = {}
    online_neck = model.local_neck.forward

    def recording_neck(feats):
        seen['local'] = online_neck(feats)[0]
        return (seen['local'], )

    monkeypatch.setattr(model.local_neck, 'forward', recording_neck)
    inputs, samples = batch()
    with torch.no_grad():
        losses = model.loss(inputs, samples)
        # Recompute the online projections of both views with the (already EMA-updated, unchanged) online net.
        proj = torch.cat([model.neck(model.backbone(x)[-1:])[0] for x in inputs])  # (2B, D)
    cells = seen['local'].permute(0, 2, 3, 1).reshape(-1, seen['local'].shape[1])  # (B*h*w, C_l) of I_sc
    assert losses['global_std'].item() == pytest.approx(embedding_std(proj).item(), rel=1e-4)
    assert losses['global_erank'].item() == pytest.approx(effective_rank(proj).item(), rel=1e-4)
    assert losses['local_std'].item() == pytest.approx(embedding_std(cells).item(), rel=1e-6)
    assert losses['local_erank'].item() == pytest.approx(effective_rank(cells).item(), rel=1e-6)
    assert not any('loss' in k for k in ('global_std', 'global_erank', 'local_std', 'local_erank'))
    assert all(not losses[k].requires_grad for k in ('global_std', 'global_erank', 'local_std', 'local_erank'))

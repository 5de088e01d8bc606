# Copyright (c) mmlc contributors. All rights reserved.
"""DINOLocalContrast: DINO at alpha = 0, the LC term from the teacher's map of I_c and the student's of I_sc, the
token-to-grid layout through the algorithm, gradient routing, the local target's schedule, the recipes."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample

import mmlc  # noqa: F401
import mmlc.models.selfsup.dino_lc as dino_lc
from mmlc.models import local_contrastive_loss
from mmlc.models.utils import correspondence_grid, inverse_correspondence_grid
from conftest import CONFIG_DIR

ARCH = dict(embed_dims=48, num_layers=2, num_heads=3, feedforward_channels=96)
PATCH = 16
K = 32  # prototypes
CLS = -7.  # the class token's value in the position test: it must never reach a patch map


def dino_cfg(backbone='vit'):
    """A tiny DINO (as tests/test_models/test_dino.py builds it) with a ViT or a ResNet-18 (plain BN)."""
    if backbone == 'vit':
        bb = dict(type='VisionTransformer', arch=ARCH, img_size=64, patch_size=PATCH, out_type='cls_token')
        neck_in, avg_pool = 48, False
    else:
        bb = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
        neck_in, avg_pool = 512, True
    return dict(
        type='DINO',
        base_momentum=0.004,
        backbone=bb,
        neck=dict(
            type='DINONeck',
            in_channels=neck_in,
            hid_channels=64,
            bottleneck_channels=16,
            out_channels=K,
            with_avg_pool=avg_pool),
        head=dict(type='DINOHead', out_channels=K),
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))


def lc_cfg(alpha=0.1, symmetric=False, backbone='vit', **vit):
    cfg = dino_cfg(backbone)
    if backbone == 'vit':
        cfg['backbone'].update({'out_type': 'raw', **vit})
        local_neck = dict(
            type='TokenLocalProjectionNeck', in_channels=48, hid_channels=48, out_channels=16, norm_cfg=dict(type='BN'))
    else:
        local_neck = dict(
            type='LocalProjectionNeck', in_channels=512, hid_channels=64, out_channels=16, norm_cfg=dict(type='BN'))
    cfg.update(
        type='DINOLocalContrast',
        alpha=alpha,
        symmetric=symmetric,
        local_neck=local_neck,
        local_head=dict(type='LCLossHead'))
    return cfg


def randomise_embeddings(model):
    """Non-trivial class token and position embedding (MODELS.build leaves them at zero)."""
    with torch.no_grad():
        model.backbone.cls_token.normal_(std=0.5)
        model.backbone.pos_embed.normal_(std=0.5)
    return model


def batch(b=3, hw=(64, 96), num_local=2, seed=0):
    """I_c, I_sc of size ``hw`` (non-square: a transposed patch grid cannot pass by symmetry), ``num_local`` 32 px
    local crops, and crop records of a 150 x 200 source."""
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(b, 3, *hw, generator=g) for _ in range(2)]
    inputs += [torch.randn(b, 3, 32, 32, generator=g) for _ in range(num_local)]
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


@pytest.fixture(autouse=True)
def _max_iters():
    MessageHub.get_current_instance().update_info('max_iters', 10)  # CosineEMA reads it


@pytest.mark.parametrize('backbone', ['vit', 'resnet'])
def test_alpha_zero_equals_dino_and_its_weights_load(backbone):
    torch.manual_seed(0)
    dino = MODELS.build(dino_cfg(backbone))
    if backbone == 'vit':
        randomise_embeddings(dino)
    lc = MODELS.build(lc_cfg(alpha=0.0, backbone=backbone))
    missing, unexpected = lc.load_state_dict(dino.state_dict(), strict=False)
    assert unexpected == []
    assert missing and {k.split('.')[0] for k in missing} == {'local_neck', 'target_local_neck'}
    for step in range(2):  # step 0 copies the teacher, step 1 moves it: the two must stay equal
        inputs, samples = batch(hw=(64, 64), seed=step)
        want = dino.loss(inputs, samples)
        got = lc.loss(inputs, samples)
        torch.testing.assert_close(got['loss_global'], want['loss'], rtol=0, atol=0)  # bit for bit
        assert got['loss_local'].item() == 0.0 and got['teacher_temp'] == want['teacher_temp']
    for key, value in dino.state_dict().items():  # the same teacher, centre and BN statistics afterwards
        torch.testing.assert_close(lc.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_dino_cpu_demo_weights_load_into_the_dino_lc_demo():
    """At config level: the DINO demo and the DINO + LC demo share every parameter name and shape but the local
    branch's."""
    base = Config.fromfile(osp.join(CONFIG_DIR, 'dino', 'dino_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'))
    lc = Config.fromfile(osp.join(CONFIG_DIR, 'dino_lc', 'dino-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'))
    base_model, lc_model = MODELS.build(base.model), MODELS.build(lc.model)
    assert type(base_model).__name__ == 'DINO' and base_model.backbone.out_type == 'cls_token'
    assert lc_model.backbone.out_type == 'raw'
    missing, unexpected = lc_model.load_state_dict(base_model.state_dict(), strict=False)
    assert unexpected == [] and {k.split('.')[0] for k in missing} == {'local_neck', 'target_local_neck'}


def test_losses_are_weighted_and_the_lc_term_is_local_contrastive_loss_on_the_patch_tokens():
    torch.manual_seed(0)
    ref = randomise_embeddings(MODELS.build(lc_cfg(alpha=0.0)))
    lc = MODELS.build(lc_cfg(alpha=0.3))
    lc.load_state_dict(ref.state_dict())
    inputs, samples = batch()
    ref_out, out = ref.loss(inputs, samples), lc.loss(inputs, samples)
    torch.testing.assert_close(out['loss_global'], 0.7 * ref_out['loss_global'], rtol=1e-6, atol=1e-7)
    # By hand from the raw tokens: the teacher's backbone (EMA local neck) on I_c, the student's on I_sc.
    h, w = 64 // PATCH, 96 // PATCH
    with torch.no_grad():
        tokens_c = lc.teacher.module[0](inputs[0])[-1]  # (B, 1 + h*w, C)
        tokens_sc = lc.backbone(inputs[1])[-1]
        target = lc.target_local_neck.module((loop_patch_map(tokens_c, h, w), ))[0]  # (B, 16, h, w)
        online = lc.local_neck((loop_patch_map(tokens_sc, h, w), ))[0]
    assert target.shape == (3, 16, 4, 6)
    grid = correspondence_grid(*records_of(samples), (h, w))
    # By hand, image 0 (crop [0, 5, 100, 125] of the 200 x 150 source, not flipped): the 4 x 6 map's cell centres
    # x = 200 (j + .5) / 6, y = 150 (i + .5) / 4 land at 2 (x - 0) / 100 - 1 and 2 (y - 5) / 120 - 1 in I_sc.
    want_x = torch.tensor([2 * (200 * (j + .5) / 6) / 100 - 1 for j in range(6)])
    want_y = torch.tensor([2 * (150 * (i + .5) / 4 - 5) / 120 - 1 for i in range(4)])
    torch.testing.assert_close(grid[0, ..., 0], want_x.expand(4, 6))
    torch.testing.assert_close(grid[0, ..., 1], want_y[:, None].expand(4, 6))
    want = local_contrastive_loss(target, online, grid, tau=0.2)
    torch.testing.assert_close(out['loss_local'], 0.3 * want, rtol=1e-5, atol=1e-6)
    # 3 x 3 of the 24 cells have their centre inside I_sc in every image (see test_mocov3_lc.py for the count).
    assert out['lc_valid_ratio'].item() == pytest.approx(9 / 24)
    assert not out['lc_valid_ratio'].requires_grad


def test_resnet_lc_reads_the_last_stage_of_the_joint_global_batch():
    """With BN, I_c and I_sc go through each network together (DINO's batching): the maps LC sees are those of
    the joint (2B) batch, in train mode."""
    torch.manual_seed(3)
    lc = MODELS.build(lc_cfg(alpha=0.5, backbone='resnet'))
    inputs, samples = batch(hw=(64, 96))
    out = lc.loss(inputs, samples)
    with torch.no_grad():
        joint = torch.cat(inputs[:2])  # (2B, 3, H, W)
        teacher_map = lc.teacher.module[0](joint)[-1]  # (2B, 512, 2, 3)
        student_map = lc.backbone(joint)[-1]
        target = lc.target_local_neck.module((teacher_map[:3], ))[0]
        online = lc.local_neck((student_map[3:], ))[0]
    assert target.shape == (3, 16, 2, 3)
    want = local_contrastive_loss(target, online, correspondence_grid(*records_of(samples), (2, 3)))
    torch.testing.assert_close(out['loss_local'], 0.5 * want, rtol=1e-5, atol=1e-6)


def test_symmetric_lc_adds_the_reverse_direction_from_the_same_forward_passes():
    torch.manual_seed(1)
    lc = randomise_embeddings(MODELS.build(lc_cfg(alpha=1.0, symmetric=True)))
    inputs, samples = batch(hw=(64, 64))
    out = lc.loss(inputs, samples)
    with torch.no_grad():
        maps = [
            loop_patch_map(t, 4, 4) for t in (lc.teacher.module[0](inputs[0])[-1], lc.teacher.module[0](inputs[1])[-1],
                                              lc.backbone(inputs[0])[-1], lc.backbone(inputs[1])[-1])
        ]
        target_c, target_sc = (lc.target_local_neck.module((m, ))[0] for m in maps[:2])
        online_c, online_sc = (lc.local_neck((m, ))[0] for m in maps[2:])
    records = records_of(samples)
    forward = local_contrastive_loss(target_c, online_sc, correspondence_grid(*records, (4, 4)))
    reverse = local_contrastive_loss(target_sc, online_c, inverse_correspondence_grid(*records, (4, 4)))
    torch.testing.assert_close(out['loss_local'], 0.5 * (forward + reverse), rtol=1e-5, atol=1e-6)
    assert out['loss_global'].item() == 0.0


# --- tokens that encode their own position ----------------------------------------------------------------------


def _position_image(hw, offset=0.):
    """(1, 3, H, W): every pixel of 16 x 16 patch (r, c) holds (r, c, 100 r + c + offset)."""
    rows = torch.arange(hw[0] // PATCH, dtype=torch.float32).repeat_interleave(PATCH)
    cols = torch.arange(hw[1] // PATCH, dtype=torch.float32).repeat_interleave(PATCH)
    r, c = rows.view(-1, 1).expand(*hw), cols.view(1, -1).expand(*hw)
    return torch.stack([r, c, 100 * r + c + offset]).unsqueeze(0)


def _position_model():
    """DINOLocalContrast whose ViT outputs token (r, c) = (r, c, 100 r + c + offset, 0, ...): the patch embedding
    averages input channel k into channel k, position embedding, attention and FFN outputs are zero (each layer is
    the identity through its residuals), no final norm; the class token holds CLS everywhere."""
    model = MODELS.build(lc_cfg(alpha=1.0, final_norm=False))
    vit = model.backbone
    with torch.no_grad():
        for p in vit.parameters():
            p.zero_()
        for k in range(3):
            vit.patch_embed.projection.weight[k, k] = 1. / PATCH**2
        vit.cls_token.fill_(CLS)
    return model


def _captured_maps(model, hw):
    """The dense maps the student's and the teacher's local necks receive from one training loss, with I_c the
    position image and I_sc the position image with 1000 added to its third channel."""
    seen = {}

    def keep(name):

        def hook(module, args):
            seen.setdefault(name, args[0][0])  # args = (tuple of maps, ); returns None: the input is unchanged

        return hook

    hooks = [
        model.local_neck.register_forward_pre_hook(keep('online')),
        model.target_local_neck.module.register_forward_pre_hook(keep('target'))
    ]
    img_c = _position_image(hw).expand(2, -1, -1, -1).clone()
    img_sc = _position_image(hw, offset=1000.).expand(2, -1, -1, -1).clone()
    _, samples = batch(b=2)
    try:
        model.loss([img_c, img_sc, torch.zeros(2, 3, 32, 32)], samples)
    finally:
        for hook in hooks:
            hook.remove()
    return seen['online'], seen['target']


def _encodes_positions(feat_map, offset):
    """Whether cell (r, c) of every image of a (B, C, h, w) map holds (r, c, 100 r + c + offset, 0, ...)."""
    b, channels, h, w = feat_map.shape
    rows = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    cols = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w)
    want = torch.zeros(channels, h, w)
    want[0], want[1], want[2] = rows, cols, 100 * rows + cols + offset
    return bool(torch.allclose(feat_map, want.expand(b, -1, -1, -1), rtol=0, atol=1e-3))


@pytest.mark.parametrize('hw', [(64, 96), (96, 64)])
def test_tokens_that_encode_their_position_reach_both_local_necks_on_their_cell_and_view(hw):
    online, target = _captured_maps(_position_model(), hw)
    for feat_map in (online, target):
        assert feat_map.shape == (2, 48, hw[0] // PATCH, hw[1] // PATCH)
        assert not (feat_map == CLS).any()  # the class token never reaches LC
    # The student's map is I_sc's (offset 1000), the teacher's I_c's.
    assert _encodes_positions(online, 1000.) and _encodes_positions(target, 0.)


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
    monkeypatch.setattr(dino_lc, 'patch_tokens_to_map', wrong)
    online, target = _captured_maps(_position_model(), (64, 96))
    assert online.shape == (2, 48, 4, 6)
    assert not _encodes_positions(online, 1000.) and not _encodes_positions(target, 0.)


# --- gradients, EMA, errors ---------------------------------------------------------------------------------------


def test_gradients_reach_the_student_only_and_lc_reads_i_sc_only():
    torch.manual_seed(0)
    lc = randomise_embeddings(MODELS.build(lc_cfg(alpha=0.5)))
    inputs, samples = batch()
    views = [x.clone().requires_grad_() for x in inputs]
    out = lc.loss(views, samples)
    out['loss_local'].backward(retain_graph=True)
    assert lc.local_neck.conv1.weight.grad.abs().sum() > 0
    assert lc.backbone.layers[-1].ffn.layers[1].weight.grad.abs().sum() > 0  # through the patch tokens
    # LC reads the student on I_sc only: I_c shares its batch (zero gradient), the local crops are not in its graph.
    assert views[1].grad.abs().sum() > 0
    assert views[0].grad is None or views[0].grad.abs().sum() == 0
    assert all(v.grad is None for v in views[2:])
    assert all(p.grad is None for p in [*lc.neck.parameters(), *lc.head.parameters()])
    for v in views:
        v.grad = None
    lc.zero_grad(set_to_none=True)
    out['loss_global'].backward()
    assert lc.neck.mlp[0].weight.grad.abs().sum() > 0 and all(v.grad.abs().sum() > 0 for v in views)
    assert all(p.grad is None for p in lc.local_neck.parameters())
    assert all(p.grad is None for p in lc.teacher.parameters())
    assert all(p.grad is None for p in lc.target_local_neck.parameters())


def test_local_target_follows_the_teachers_cosine_schedule():
    torch.manual_seed(0)
    lc = randomise_embeddings(MODELS.build(lc_cfg()))
    max_iters = 10
    inputs, samples = batch()
    lc.loss(inputs, samples)  # step 0 copies the student into both EMAs
    torch.testing.assert_close(lc.target_local_neck.module.conv1.weight, lc.local_neck.conv1.weight)
    old_local = lc.target_local_neck.module.conv1.weight.clone()
    old_teacher = lc.teacher.module[0].patch_embed.projection.weight.clone()
    with torch.no_grad():  # move the student away from its EMAs
        lc.local_neck.conv1.weight.add_(1.0)
        lc.backbone.patch_embed.projection.weight.add_(1.0)
    lc.loss(inputs, samples)
    # By hand: CosineEMA's weight of the new parameters at step 1 of 10, from 0.004 to 0.
    m = 0.004 * (math.cos(math.pi * 1 / max_iters) + 1) / 2
    torch.testing.assert_close(lc.target_local_neck.module.conv1.weight,
                               (1 - m) * old_local + m * lc.local_neck.conv1.weight)
    torch.testing.assert_close(lc.teacher.module[0].patch_embed.projection.weight,
                               (1 - m) * old_teacher + m * lc.backbone.patch_embed.projection.weight)
    assert int(lc.target_local_neck.steps) == int(lc.teacher.steps) == 2


@pytest.mark.parametrize('alpha', [-0.1, 1.5, '0.1', True])
def test_alpha_outside_unit_interval_is_a_build_error(alpha):
    with pytest.raises(ValueError, match='alpha'):
        MODELS.build(lc_cfg(alpha=alpha))


@pytest.mark.parametrize('vit, match', [
    (dict(out_type='cls_token'), 'out_type'),
    (dict(out_type='featmap'), 'out_type'),
    (dict(with_cls_token=False), 'class token'),
])
def test_vits_without_class_and_patch_tokens_are_refused(vit, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(lc_cfg(**vit))


def test_bad_views_are_refused():
    lc = MODELS.build(lc_cfg())
    inputs, samples = batch()
    with pytest.raises(ValueError, match='one shape'):
        lc.loss([inputs[0], inputs[1][..., :64]] + inputs[2:], samples)
    with pytest.raises(ValueError, match='I_c, I_sc'):
        lc.loss(inputs[:1], samples)
    with pytest.raises(KeyError, match='sc_box'):
        lc.loss(inputs, [DataSample() for _ in samples])


# --- recipes ----------------------------------------------------------------------------------------------------


def _unscoped(obj):
    """A config value without the ``_scope_`` tags that inheriting across packages adds."""
    if isinstance(obj, dict):
        return {k: _unscoped(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unscoped(v) for v in obj)
    return obj


def _colour(view):
    return [t for t in _unscoped(view) if t['type'] not in ('RandomResizedCrop', 'RandomFlip')]


@pytest.mark.parametrize('name, base_name, local_neck, scale', [
    ('dino-lc_vit-small-p16_8xb64-amp-coslr-100e_in1k.py', 'dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py',
     ('TokenLocalProjectionNeck', 384, 384, 256), (0.4, 1.)),
    ('dino-lc_resnet50_8xb64-amp-coslr-100e_in1k.py', 'dino_resnet50_8xb64-amp-coslr-100e_in1k.py',
     ('LocalProjectionNeck', 2048, 2048, 256), (0.14, 1.)),
])
def test_full_recipes_are_dinos_plus_lc(name, base_name, local_neck, scale):
    ours = Config.fromfile(osp.join(CONFIG_DIR, 'dino_lc', name))
    base = Config.fromfile(osp.join(CONFIG_DIR, 'dino', base_name))
    assert ours.custom_imports == dict(imports=['mmlc'], allow_failed_imports=False)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr', 'custom_hooks', 'randomness'):
        assert _unscoped(ours[key]) == _unscoped(base[key]), key
    m = ours.model
    for key in ('neck', 'head', 'base_momentum', 'data_preprocessor'):
        assert _unscoped(m[key]) == _unscoped(base.model[key]), key
    assert _unscoped(dict(m.backbone, out_type=None)) == _unscoped(dict(base.model.backbone, out_type=None))
    assert (m.type, m.alpha, m.local_head.tau) == ('DINOLocalContrast', 0.1, 0.2)
    ln = m.local_neck
    assert (ln.type, ln.in_channels, ln.hid_channels, ln.out_channels, ln.with_relu) == (*local_neck, False)
    # The pair replaces the two global crops: I_c gets view 1's colour, I_sc view 2's crop scale, flip and colour;
    # the local crops are DINO's.
    pipeline = ours.train_dataloader.dataset.pipeline
    assert [t['type'] for t in pipeline] == ['LoadImageOrSkip', 'PairedMultiCrop', 'PackInputs']
    assert pipeline[2]['algorithm_keys'] == ['sc_box', 'sc_flip', 'src_shape']
    (pair, ), local_view = pipeline[1]['transforms']
    g1, g2, local = base.train_dataloader.dataset.pipeline[1]['transforms']
    assert (pair['size'], tuple(pair['scale']), pair['flip_prob']) == (224, scale, 0.5)
    assert _unscoped(pair['c_pipeline']) == _colour(g1) and _unscoped(pair['sc_pipeline']) == _colour(g2)
    assert _unscoped(local_view) == _unscoped(local) and pipeline[1]['num_local_crops'] == 8
    init_default_scope('mmpretrain')
    model = MODELS.build(m)
    if local_neck[0] == 'TokenLocalProjectionNeck':
        assert model.backbone.out_type == 'raw' and model.backbone.patch_resolution == (14, 14)


def test_cpu_config_dataset_yields_the_pair_local_crops_and_records():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'dino_lc', 'dino-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'))
    base = Config.fromfile(osp.join(CONFIG_DIR, 'dino', 'dino_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'))
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'custom_hooks', 'default_hooks', 'randomness'):
        assert _unscoped(cfg[key]) == _unscoped(base[key]), key
    init_default_scope(cfg.default_scope)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    item = dataset[0]
    assert [tuple(v.shape) for v in item['inputs']] == [(3, 64, 64)] * 2 + [(3, 32, 32)] * 4
    s = item['data_samples']
    x0, y0, x1, y1 = s.sc_box.tolist()
    h, w = s.src_shape[:2]
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert 0.4 * h * w * 0.99 <= (x1 - x0) * (y1 - y0) <= h * w  # DINO's global crop scale (0.4, 1)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'DINOLocalContrast' and model.alpha == 0.5
    data = model.data_preprocessor(dict(inputs=[v[None] for v in item['inputs']], data_samples=[s]), training=True)
    out = model(**data, mode='loss')
    assert set(out) >= {'loss_global', 'loss_local', 'teacher_temp', 'lc_valid_ratio'}
    assert out['loss_local'].item() > 0

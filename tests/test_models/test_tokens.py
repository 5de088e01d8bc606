# Copyright (c) mmlc contributors. All rights reserved.
"""ViT tokens as dense maps: tokens that encode their own (row, col), a real mmpretrain ViT forward whose
output tokens carry their patch position, and the token local projection against a per-token loop."""

import pytest
import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

import mmlc  # noqa: F401
from mmlc.models import LocalProjectionNeck, TokenLocalProjectionNeck
from mmlc.models.utils import patch_grid_size, patch_tokens_to_map, square_patch_grid

CLS = -7.  # the class token's value in every channel: it must never reach the map


def _position_tokens(b: int, h: int, w: int, extra: int = 1, channels: int = 4) -> torch.Tensor:
    """(b, extra + h*w, channels) tokens in ViT order (extra tokens, then patches row by row); patch token
    (r, c) of image i holds (r, c, i, 100 r + c) in its first four channels, the extra tokens hold CLS."""
    tokens = torch.full((b, extra + h * w, channels), CLS)
    for i in range(b):
        for r in range(h):
            for c in range(w):
                tokens[i, extra + r * w + c, :4] = torch.tensor([r, c, i, 100 * r + c], dtype=torch.float32)
    return tokens


def _encodes_positions(feat_map: torch.Tensor) -> bool:
    """Whether cell (r, c) of image i of a (b, C, h, w) map holds (r, c, i, 100 r + c)."""
    b, _, h, w = feat_map.shape
    rows = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    cols = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w)
    return all(
        torch.equal(feat_map[i, 0], rows) and torch.equal(feat_map[i, 1], cols) and bool((
            feat_map[i, 2] == i).all()) and torch.equal(feat_map[i, 3], 100 * rows + cols) for i in range(b))


@pytest.mark.parametrize('extra', [0, 1, 2])  # no class token, class token, DeiT's class + distillation
def test_tokens_that_encode_their_position_land_on_their_cell(extra):
    h, w = 3, 5  # not square, so a transposed layout cannot pass by symmetry
    tokens = _position_tokens(2, h, w, extra)
    out = patch_tokens_to_map(tokens, (h, w), extra)
    assert out.shape == (2, 4, h, w) and out.is_contiguous()
    assert _encodes_positions(out)
    assert not (out == CLS).any()  # the extra tokens are excluded


def test_the_position_check_rejects_transposed_and_shifted_reshapes():
    """The check above is sharp: the usual mistakes, done by hand on the same tokens, fail it."""
    h, w = 3, 5
    tokens = _position_tokens(2, h, w)
    patches = tokens[:, 1:]  # (2, 15, 4)
    transposed = patches.reshape(2, w, h, 4).permute(0, 3, 2, 1)  # (w, h) grid read column-major
    shifted = tokens[:, :-1].reshape(2, h, w, 4).permute(0, 3, 1, 2)  # class token kept, last patch dropped
    channels_as_space = patches.reshape(2, 4, h, w)  # a reshape without the permute
    for wrong in (transposed, shifted, channels_as_space):
        assert wrong.shape == (2, 4, h, w) and not _encodes_positions(wrong)
    assert _encodes_positions(patch_tokens_to_map(tokens, (h, w), 1))


def test_bad_token_counts_and_shapes_are_refused():
    tokens = _position_tokens(1, 3, 5)
    with pytest.raises(ValueError, match='do not hold'):
        patch_tokens_to_map(tokens, (5, 3), 2)  # 16 tokens are 1 + 15, not 2 + 15
    with pytest.raises(ValueError, match='do not hold'):
        patch_tokens_to_map(tokens, (4, 4), 1)
    with pytest.raises(ValueError, match=r'\(B, N, C\)'):
        patch_tokens_to_map(tokens[0], (3, 5), 1)
    with pytest.raises(ValueError, match='patch_grid'):
        patch_tokens_to_map(tokens, (0, 15), 1)
    assert square_patch_grid(1 + 14 * 14) == (14, 14) and square_patch_grid(2 + 9, 2) == (3, 3)
    with pytest.raises(ValueError, match='not a square'):
        square_patch_grid(16, 1)


def _tiny_vit(out_type: str, **kwargs) -> VisionTransformer:
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    vit = VisionTransformer(arch=arch, img_size=64, patch_size=16, out_type=out_type, **kwargs)
    with torch.no_grad():  # random class and position embeddings (init_weights() would log every tensor)
        vit.pos_embed.normal_(std=0.02)
        vit.cls_token.normal_(std=0.02)
    vit.eval()  # mmpretrain's backbones return None from eval()
    return vit


def _position_vit() -> VisionTransformer:
    """A 2-layer ViT whose output token (r, c) is (r, c, 0, 100 r + c, 0, ...): the patch embedding averages
    input channel k over the patch into channel k, position embedding, attention and FFN outputs are zero
    (each layer is then the identity through its residuals), no final norm."""
    vit = _tiny_vit('raw', final_norm=False)
    with torch.no_grad():
        for name, p in vit.named_parameters():
            if not name.startswith('cls_token'):
                p.zero_()
        for k in range(3):  # channel k of the embedding = mean of input channel k over the 16 x 16 patch
            vit.patch_embed.projection.weight[k, k] = 1. / 256
        vit.cls_token.fill_(CLS)
    return vit


@pytest.mark.parametrize('size', [(64, 64), (48, 80)])
def test_real_vit_forward_tokens_land_on_their_patch(size):
    """Images whose 16 x 16 patch (r, c) is filled with (r, c, 100 r + c) go through mmpretrain's
    VisionTransformer(out_type='raw'); the map must put each output token back on its patch."""
    vit = _position_vit()
    h, w = size[0] // 16, size[1] // 16
    rows = torch.arange(h, dtype=torch.float32).repeat_interleave(16).view(-1, 1).expand(-1, size[1])
    cols = torch.arange(w, dtype=torch.float32).repeat_interleave(16).view(1, -1).expand(size[0], -1)
    image = torch.stack([rows, cols, 100 * rows + cols])  # (3, H, W)
    with torch.no_grad():
        tokens = vit(image.unsqueeze(0))[0]  # (1, 1 + h*w, 32)
    assert tokens.shape == (1, 1 + h * w, 32)
    grid = patch_grid_size(vit.patch_embed, size)
    assert grid == (h, w)
    out = patch_tokens_to_map(tokens, grid, vit.num_extra_tokens)
    # channels 0, 1 = (r, c); channel 2 = 100 r + c; move it to where _encodes_positions expects it
    positions = torch.stack([out[:, 0], out[:, 1], torch.zeros_like(out[:, 0]), out[:, 2]], dim=1)
    assert _encodes_positions(positions.round())
    torch.testing.assert_close(positions, positions.round(), rtol=0, atol=1e-4)  # exact up to float sums
    assert not (out == CLS).any()


@pytest.mark.parametrize('size', [(64, 64), (48, 80), (50, 70), (17, 33)])
def test_map_and_grid_agree_with_mmpretrains_featmap_output(size):
    """Same weights, out_type='raw' + our reshape vs mmpretrain's own 'featmap' output, including inputs
    that PatchEmbed pads (50 x 70 -> 4 x 5 patches)."""
    raw = _tiny_vit('raw')
    featmap = _tiny_vit('featmap')
    featmap.load_state_dict(raw.state_dict())
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        tokens, ref = raw(x)[0], featmap(x)[0]
    grid = patch_grid_size(raw.patch_embed, size)
    assert grid == (-(-size[0] // 16), -(-size[1] // 16))  # ceil: corner padding
    assert ref.shape[-2:] == grid
    torch.testing.assert_close(patch_tokens_to_map(tokens, grid, raw.num_extra_tokens), ref, rtol=0, atol=0)


def _perturbed_neck(norm: str, with_relu: bool = False, **kwargs) -> TokenLocalProjectionNeck:
    neck = TokenLocalProjectionNeck(
        in_channels=8, hid_channels=6, out_channels=5, norm_cfg=dict(type=norm), with_relu=with_relu, **kwargs)
    with torch.no_grad():  # non-trivial affine parameters and running statistics
        neck.bn.weight.uniform_(0.5, 1.5)
        neck.bn.bias.uniform_(-0.5, 0.5)
        neck.conv2.bias.uniform_(-0.5, 0.5)
        if norm == 'BN':
            neck.bn.running_mean.uniform_(-0.3, 0.3)
            neck.bn.running_var.uniform_(0.5, 2.)
    return neck


def _loop_reference(neck: TokenLocalProjectionNeck, tokens: torch.Tensor, h: int, w: int, norm: str,
                    training: bool) -> torch.Tensor:
    """Token by token: y = W2 relu?(norm(W1 t)) + b2 for patch token (r, c), written to cell (r, c)."""
    w1 = neck.conv1.weight[:, :, 0, 0]  # (hid, in)
    w2, b2 = neck.conv2.weight[:, :, 0, 0], neck.conv2.bias
    gamma, beta, eps = neck.bn.weight, neck.bn.bias, neck.bn.eps
    patches = tokens[:, 1:]  # (B, h*w, in): the class token is not projected
    hidden = torch.einsum('bni,oi->bno', patches, w1)  # (B, h*w, hid)
    if norm == 'BN' and training:  # statistics over every patch token of the batch, biased variance
        flat = hidden.reshape(-1, hidden.shape[-1])
        mean, var = flat.mean(0), flat.var(0, unbiased=False)
    out = torch.zeros(tokens.shape[0], w2.shape[0], h, w)
    for b in range(tokens.shape[0]):
        for r in range(h):
            for c in range(w):
                z = hidden[b, r * w + c]
                if norm == 'LN':
                    z = (z - z.mean()) / torch.sqrt(z.var(unbiased=False) + eps)
                elif training:
                    z = (z - mean) / torch.sqrt(var + eps)
                else:
                    z = (z - neck.bn.running_mean) / torch.sqrt(neck.bn.running_var + eps)
                z = gamma * z + beta
                if isinstance(neck.relu, torch.nn.ReLU):
                    z = z.clamp(min=0)
                out[b, :, r, c] = w2 @ z + b2
    return out


@pytest.mark.parametrize('norm, training, with_relu', [('BN', False, False), ('BN', True, False), ('LN', False, False),
                                                       ('LN', True, True)])
def test_token_neck_equals_a_per_token_loop(norm, training, with_relu):
    torch.manual_seed(0)
    neck = _perturbed_neck(norm, with_relu)
    neck.train(training)
    h, w = 3, 4  # not square: raw tokens need the grid given
    tokens = torch.randn(2, 1 + h * w, 8)
    with torch.no_grad():
        ref = _loop_reference(neck, tokens, h, w, norm, training)
    with pytest.raises(ValueError, match='not a square'):
        neck((tokens, ))
    neck_grid = _perturbed_neck(norm, with_relu, patch_grid=(h, w))
    neck_grid.load_state_dict(neck.state_dict())
    neck_grid.train(training)
    with torch.no_grad():
        from_tokens = neck_grid((tokens, ))[0]
        from_map = neck((patch_tokens_to_map(tokens, (h, w)), ))[0]  # a map passes straight to the projection
    torch.testing.assert_close(from_tokens, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_map, ref, rtol=1e-5, atol=1e-5)


def test_token_neck_infers_square_grids_and_ignores_the_class_token():
    torch.manual_seed(1)
    neck = _perturbed_neck('BN')
    neck.eval()
    tokens = torch.randn(2, 1 + 16, 8)
    other_cls = tokens.clone()
    other_cls[:, 0] = 1e3
    with torch.no_grad():
        out = neck((tokens, ))[0]
        torch.testing.assert_close(out, _loop_reference(neck, tokens, 4, 4, 'BN', False), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(neck((other_cls, ))[0], out, rtol=0, atol=0)
    neck.train()  # in training too: the class token is not in the batch statistics
    with torch.no_grad():
        torch.testing.assert_close(neck((other_cls, ))[0], neck((tokens, ))[0], rtol=0, atol=0)


def test_token_neck_keeps_the_local_neck_parameter_names_and_trains():
    neck = MODELS.build(
        dict(type='TokenLocalProjectionNeck', in_channels=8, hid_channels=6, out_channels=5, norm_cfg=dict(type='BN')))
    plain = LocalProjectionNeck(in_channels=8, hid_channels=6, out_channels=5, norm_cfg=dict(type='BN'))
    assert neck.state_dict().keys() == plain.state_dict().keys()
    tokens = torch.randn(3, 1 + 9, 8, requires_grad=True)
    neck((tokens, ))[0].square().mean().backward()
    assert tokens.grad[:, 1:].abs().sum() > 0 and tokens.grad[:, 0].abs().sum() == 0  # no gradient to CLS
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in neck.parameters())


@pytest.mark.parametrize('kwargs, match', [(dict(norm_cfg=dict(type='GN', num_groups=2)), 'norm_cfg'),
                                           (dict(num_extra_tokens=-1), 'num_extra_tokens'),
                                           (dict(patch_grid=(3, )), 'patch_grid'),
                                           (dict(in_channels=0), 'in_channels')])
def test_token_neck_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenLocalProjectionNeck(**kwargs)


def test_token_neck_on_a_tiny_vit_equals_the_neck_on_mmpretrains_featmap():
    """End to end on mmpretrain's ViT: raw tokens through the token neck = LocalProjectionNeck (same weights) on
    the 'featmap' output of the same network."""
    torch.manual_seed(2)
    raw, featmap = _tiny_vit('raw'), _tiny_vit('featmap')
    featmap.load_state_dict(raw.state_dict())
    neck = TokenLocalProjectionNeck(in_channels=32, hid_channels=32, out_channels=16, norm_cfg=dict(type='BN'))
    plain = LocalProjectionNeck(
        in_channels=32, hid_channels=32, out_channels=16, norm_cfg=dict(type='BN'), with_relu=False)
    plain.load_state_dict(neck.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = neck(raw(x))[0]
        ref = plain(featmap(x))[0]
    assert out.shape == (2, 16, 4, 4)
    assert ref.std() > 0.1  # a non-degenerate output, so the equality means something
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)  # 'featmap' is a strided view: other summation order

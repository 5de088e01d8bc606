# Copyright (c) mmlc contributors. All rights reserved.
"""local_contrastive_loss and local_mse_loss against loop-based references written from the paper."""

import math

import pytest
import torch

from mmlc.models.losses import local_contrastive_loss, local_mse_loss


def _bilinear_border(values, x, y):
    """Read a (Ho, Wo) table (list of lists) at normalised (x, y), align_corners=False, border clamp."""
    ho, wo = len(values), len(values[0])
    px = min(max(((x + 1) * wo - 1) / 2, 0.0), wo - 1)  # pixel-centre coordinates, clamped to border cells
    py = min(max(((y + 1) * ho - 1) / 2, 0.0), ho - 1)
    x0, y0 = int(math.floor(px)), int(math.floor(py))
    x1, y1 = min(x0 + 1, wo - 1), min(y0 + 1, ho - 1)
    ax, ay = px - x0, py - y0
    return ((1 - ax) * (1 - ay) * values[y0][x0] + ax * (1 - ay) * values[y0][x1] + (1 - ax) * ay * values[y1][x0] +
            ax * ay * values[y1][x1])


def _cos(a, b):
    return (a * b).sum() / (a.norm() * b.norm())


def reference_lc(target, online, grid, tau):
    """Equations 2-4 with explicit loops over images, target cells and online cells (float64)."""
    target, online, grid = target.double(), online.double(), grid.double()
    b_, _, ht, wt = target.shape
    _, _, ho, wo = online.shape
    image_means = []
    for b in range(b_):
        pair_losses = []
        for i in range(ht):
            for j in range(wt):
                x, y = float(grid[b, i, j, 0]), float(grid[b, i, j, 1])
                if not (abs(x) <= 1 and abs(y) <= 1):
                    continue
                t = target[b, :, i, j]
                sims = [[_cos(t, online[b, :, u, v]) / tau for v in range(wo)] for u in range(ho)]
                log_z = torch.logsumexp(torch.stack([s for row in sims for s in row]), dim=0)
                nll = [[log_z - sims[u][v] for v in range(wo)] for u in range(ho)]
                pair_losses.append(_bilinear_border(nll, x, y))
        if pair_losses:
            image_means.append(sum(pair_losses) / len(pair_losses))
    if not image_means:
        return torch.zeros((), dtype=torch.float64)
    return sum(image_means) / len(image_means)


def reference_mse(target, online, grid):
    target, online, grid = target.double(), online.double(), grid.double()
    b_, c, ht, wt = target.shape
    image_means = []
    for b in range(b_):
        pair_losses = []
        for i in range(ht):
            for j in range(wt):
                x, y = float(grid[b, i, j, 0]), float(grid[b, i, j, 1])
                if not (abs(x) <= 1 and abs(y) <= 1):
                    continue
                feat = torch.tensor([_bilinear_border(online[b, ch].tolist(), x, y) for ch in range(c)],
                                    dtype=torch.float64)
                pair_losses.append(2 - 2 * _cos(target[b, :, i, j], feat))
        if pair_losses:
            image_means.append(sum(pair_losses) / len(pair_losses))
    return sum(image_means) / len(image_means)


def _random_case(b=2, c=5, ht=3, wt=4, ho=4, wo=3, spread=1.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(b, c, ht, wt, generator=g)
    online = torch.randn(b, c, ho, wo, generator=g)
    grid = (torch.rand(b, ht, wt, 2, generator=g) * 2 - 1) * spread  # some points fall outside
    return target, online, grid


@pytest.mark.parametrize('shape', [
    dict(b=1, c=3, ht=2, wt=2, ho=2, wo=2),
    dict(b=2, c=5, ht=3, wt=4, ho=4, wo=3),
    dict(b=3, c=4, ht=4, wt=4, ho=2, wo=5),
    dict(b=2, c=8, ht=1, wt=3, ho=3, wo=1),
])
@pytest.mark.parametrize('tau', [0.2, 1.0])
def test_matches_loop_reference(shape, tau):
    target, online, grid = _random_case(**shape, seed=shape['ht'] * 7 + shape['wo'])
    got = local_contrastive_loss(target, online, grid, tau=tau)
    want = reference_lc(target, online, grid, tau)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


def test_gradient_matches_loop_reference():
    target, online, grid = _random_case(b=2, c=4, ht=3, wt=2, ho=3, wo=4)
    online64 = online.double().requires_grad_()
    reference_lc(target, online64, grid, 0.3).backward()
    online32 = online.clone().requires_grad_()
    local_contrastive_loss(target, online32, grid, tau=0.3).backward()
    torch.testing.assert_close(online32.grad.double(), online64.grad, rtol=1e-4, atol=1e-6)


def test_invalid_cells_are_ignored():
    target, online, grid = _random_case(b=2, ht=3, wt=3, spread=1.0)
    grid[0, 0, 0] = torch.tensor([1.5, 0.0])  # right of I_sc
    grid[0, 1, 2] = torch.tensor([0.0, -1.01])  # above I_sc
    grid[1, 2, 1] = torch.tensor([float('nan'), 0.0])  # non-finite: never a pair
    before = local_contrastive_loss(target, online, grid)
    changed = target.clone()
    changed[0, :, 0, 0] = torch.randn(target.shape[1]) * 10
    changed[0, :, 1, 2] = torch.randn(target.shape[1]) * 10
    changed[1, :, 2, 1] = torch.randn(target.shape[1]) * 10
    after = local_contrastive_loss(changed, online, grid)
    torch.testing.assert_close(before, after)
    assert torch.isfinite(before)
    # But a valid cell does matter.
    changed[1, :, 0, 0] += 5
    assert not torch.allclose(local_contrastive_loss(changed, online, grid), before)


def test_points_on_the_edge_are_valid():
    target, online, _ = _random_case(b=1, ht=1, wt=2, ho=2, wo=2)
    grid = torch.tensor([[[[1.0, -1.0], [1.5, 0.0]]]])  # first exactly on the corner, second outside
    got = local_contrastive_loss(target, online, grid)
    want = reference_lc(target[..., :1], online, grid[:, :, :1], 0.2)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)


def test_mean_over_images_not_over_pairs():
    """Equation 4 per image, then the mean over images: an image with 1 pair weighs as much as one with 4."""
    target, online, grid = _random_case(b=2, ht=2, wt=2, ho=3, wo=3, spread=0.9)
    grid[0, 0, 1] = grid[0, 1, 0] = grid[0, 1, 1] = 3.0  # image 0 keeps a single pair
    per_image = [local_contrastive_loss(target[k:k + 1], online[k:k + 1], grid[k:k + 1]) for k in range(2)]
    torch.testing.assert_close(local_contrastive_loss(target, online, grid), (per_image[0] + per_image[1]) / 2)


def test_image_without_pairs_is_skipped():
    target, online, grid = _random_case(b=2, ht=2, wt=2, spread=0.9)
    grid[1] = 5.0
    torch.testing.assert_close(
        local_contrastive_loss(target, online, grid), local_contrastive_loss(target[:1], online[:1], grid[:1]))


def test_no_valid_pair_gives_zero_with_a_gradient():
    target, online, grid = _random_case()
    grid.fill_(2.0)
    online.requires_grad_()
    loss = local_contrastive_loss(target, online, grid)
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert online.grad is not None and torch.equal(online.grad, torch.zeros_like(online))


def test_fp16_inputs_are_computed_in_fp32():
    target, online, grid = _random_case(b=2, c=6, ht=3, wt=3, ho=3, wo=3)
    t16, o16, g16 = target.half(), online.half(), grid.half()
    got = local_contrastive_loss(t16, o16, g16, tau=0.1)
    assert got.dtype == torch.float32
    want = reference_lc(t16.float(), o16.float(), g16.float(), 0.1)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


def test_bf16_gradients_flow_to_the_input_dtype():
    target, online, grid = _random_case()
    online = online.bfloat16().requires_grad_()
    local_contrastive_loss(target.bfloat16(), online, grid).backward()
    assert online.grad.dtype == torch.bfloat16 and online.grad.abs().sum() > 0
    # The value: the loop reference's gradient at the bf16-rounded inputs, rounded to bf16 (8-bit mantissa).
    online64 = online.detach().double().requires_grad_()
    reference_lc(target.bfloat16(), online64, grid, 0.2).backward()
    torch.testing.assert_close(online.grad.double(), online64.grad, rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize('tau', [0.0, -0.1])
def test_tau_must_be_positive(tau):
    with pytest.raises(ValueError, match='tau'):
        local_contrastive_loss(*_random_case(), tau=tau)


def test_mismatched_shapes_raise():
    target, online, grid = _random_case(b=2, c=5)
    with pytest.raises(ValueError, match='batch'):
        local_contrastive_loss(target, online[:1], grid)
    with pytest.raises(ValueError, match='channel'):
        local_contrastive_loss(target, online[:, :4], grid)
    with pytest.raises(ValueError, match='grid'):
        local_contrastive_loss(target, online, grid[:, :2])
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'):
        local_contrastive_loss(target[0], online, grid)
    for impl in ('naive', 'lean'):
        with pytest.raises(ValueError, match='non-empty'):
            local_contrastive_loss(target[:0], online[:0], grid[:0], impl=impl)
        with pytest.raises(ValueError, match='non-empty'):
            local_contrastive_loss(target[:, :, :0], online, grid[:, :0], impl=impl)


def test_matching_features_beat_shuffled_features():
    """With I_sc == I_c (identity grid) and identical features, the true match is the most similar."""
    b, c, h, w = 2, 16, 4, 4
    feats = torch.nn.functional.normalize(torch.randn(b, c, h, w), dim=1)
    xs = (torch.arange(w) + 0.5) / w * 2 - 1
    ys = (torch.arange(h) + 0.5) / h * 2 - 1
    identity = torch.stack(torch.meshgrid(xs, ys, indexing='xy'), dim=-1).expand(b, h, w, 2)
    aligned = local_contrastive_loss(feats, feats, identity, tau=0.2)
    perm = torch.randperm(h * w)
    shuffled = feats.flatten(2)[:, :, perm].reshape(b, c, h, w)
    assert aligned < local_contrastive_loss(feats, shuffled, identity, tau=0.2) - 1.0
    # And the aligned loss is close to its minimum: every row's softmax peaks at the true cell.
    assert aligned < -math.log(0.5)


def test_optimising_online_features_lowers_the_loss():
    target, online, grid = _random_case(b=2, c=8, ht=3, wt=3, ho=3, wo=3, spread=0.9)
    online = online.clone().requires_grad_()
    opt = torch.optim.SGD([online], lr=1.0)
    first = local_contrastive_loss(target, online, grid).item()
    for _ in range(30):
        opt.zero_grad()
        loss = local_contrastive_loss(target, online, grid)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_local_mse_matches_loop_reference():
    target, online, grid = _random_case(b=2, c=4, ht=3, wt=3, ho=4, wo=2, spread=1.2)
    torch.testing.assert_close(
        local_mse_loss(target, online, grid).double(), reference_mse(target, online, grid), rtol=1e-5, atol=1e-5)


def test_local_mse_identical_features_give_zero():
    feats = torch.randn(1, 3, 2, 2)
    xs = torch.tensor([-0.5, 0.5])
    identity = torch.stack(torch.meshgrid(xs, xs, indexing='xy'), dim=-1)[None]
    assert local_mse_loss(feats, feats, identity).item() == pytest.approx(0.0, abs=1e-6)

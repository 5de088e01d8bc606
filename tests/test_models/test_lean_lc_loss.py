# Copyright (c) mmlc contributors. All rights reserved.
"""The memory-lean LC-loss path equals the naive one in value and gradients."""
import pytest
import torch

from mmlc.models.losses import local_contrastive_loss
from mmlc.models.losses.local_losses import LEAN_THRESHOLD, bilinear_corners, sample_bilinear


def _case(b, c, ht, wt, ho, wo, spread, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(b, c, ht, wt, generator=g).to(dtype)
    online = torch.randn(b, c, ho, wo, generator=g).to(dtype)
    grid = (torch.rand(b, ht, wt, 2, generator=g) * 2 - 1) * spread
    return target, online, grid


def _value_and_grads(target, online, grid, impl, chunk=256):
    target = target.detach().requires_grad_()
    online = online.detach().requires_grad_()
    loss = local_contrastive_loss(target, online, grid, tau=0.2, impl=impl, chunk_size=chunk)
    loss.backward()
    return loss.detach(), target.grad, online.grad


@pytest.mark.parametrize('shape', [(2, 8, 7, 7, 7, 7), (3, 4, 5, 3, 4, 6), (1, 16, 12, 10, 9, 11), (2, 3, 1, 1, 2, 2)])
@pytest.mark.parametrize('spread', [0.8, 1.4])
@pytest.mark.parametrize('chunk', [1, 7, 256])
def test_lean_equals_naive(shape, spread, chunk):
    target, online, grid = _case(*shape, spread=spread, dtype=torch.float32, seed=sum(shape))
    naive = _value_and_grads(target, online, grid, 'naive')
    lean = _value_and_grads(target, online, grid, 'lean', chunk)
    for a, b in zip(naive, lean):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float64])
def test_lean_equals_naive_across_dtypes(dtype):
    target, online, grid = _case(2, 8, 6, 6, 5, 7, spread=1.2, dtype=dtype, seed=3)
    naive = _value_and_grads(target, online, grid, 'naive')
    lean = _value_and_grads(target, online, grid, 'lean', 5)
    assert lean[0].dtype == torch.float32 and lean[2].dtype == dtype
    torch.testing.assert_close(naive[0], lean[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(naive[2].float(), lean[2].float(), rtol=1e-2, atol=1e-3)


def test_lean_with_masks_and_no_valid_pairs():
    target, online, grid = _case(3, 4, 4, 4, 4, 4, spread=1.0, dtype=torch.float32, seed=9)
    grid[0] = 3.0  # image 0: nothing valid
    grid[1, :2] = float('nan')  # image 1: two rows invalid
    for a, b in zip(_value_and_grads(target, online, grid, 'naive'), _value_and_grads(target, online, grid, 'lean', 3)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    grid[:] = 2.0
    value, _, grad = _value_and_grads(target, online, grid, 'lean')
    assert value.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad))


def test_bilinear_corners_reproduce_grid_sample():
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 5, 4, 6, generator=g)  # (B, N, Ho, Wo)
    points = (torch.rand(2, 5, 2, generator=g) * 2 - 1) * 1.3
    index, weight = bilinear_corners(points, 4, 6)
    torch.testing.assert_close(weight.sum(-1), torch.ones(2, 5))
    by_corners = (maps.flatten(2).gather(-1, index) * weight).sum(-1)
    torch.testing.assert_close(by_corners, sample_bilinear(maps, points))


def test_bilinear_corners_by_hand():
    # A 2 x 4 map; the point x = 0 lies halfway between columns 1 and 2 (pixel x = 1.5), y = -1 is the top edge,
    # clamped to row 0.
    index, weight = bilinear_corners(torch.tensor([[[0.0, -1.0]]]), 2, 4)
    assert index.tolist() == [[[1, 2, 5, 6]]]
    torch.testing.assert_close(weight, torch.tensor([[[0.5, 0.5, 0.0, 0.0]]]))


def test_auto_switches_to_lean_for_large_maps(monkeypatch):
    import mmlc.models.losses.local_losses as mod
    calls = []
    real = mod._pair_nll_lean
    monkeypatch.setattr(mod, '_pair_nll_lean', lambda *a: calls.append(1) or real(*a))
    small = _case(1, 4, 5, 5, 5, 5, 1.0, torch.float32, 0)
    local_contrastive_loss(*small)
    assert not calls and 5**4 <= LEAN_THRESHOLD
    big = _case(1, 4, 7, 7, 7, 7, 1.0, torch.float32, 0)
    local_contrastive_loss(*big)
    assert calls and 7**4 > LEAN_THRESHOLD


def test_invalid_impl_and_chunk():
    case = _case(1, 4, 2, 2, 2, 2, 1.0, torch.float32, 0)
    with pytest.raises(ValueError, match='impl'):
        local_contrastive_loss(*case, impl='fast')
    with pytest.raises(ValueError, match='chunk_size'):
        local_contrastive_loss(*case, chunk_size=0)


@pytest.mark.parametrize('which', ['target', 'online'])
def test_lean_gradient_of_one_input_only(which):
    target, online, grid = _case(2, 6, 5, 4, 4, 5, spread=1.1, dtype=torch.float32, seed=11)
    grads = {}
    for impl in ('naive', 'lean'):
        t = target.clone().requires_grad_(which == 'target')
        o = online.clone().requires_grad_(which == 'online')
        local_contrastive_loss(t, o, grid, impl=impl, chunk_size=3).backward()
        grads[impl] = (t if which == 'target' else o).grad
    torch.testing.assert_close(grads['lean'], grads['naive'], rtol=1e-5, atol=1e-6)

# Copyright (c) mmlc contributors. All rights reserved.
"""The memory-lean LC-loss path equals the naive one in value and gradients."""

import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mmlc.models.losses import local_contrastive_loss
from mmlc.models.losses.local_losses import LEAN_THRESHOLD, _blocks, bilinear_corners, sample_bilinear


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


@pytest.mark.parametrize('shape', [(2, 8, 7, 7, 7, 7), (3, 4, 5, 3, 4, 6), (1, 16, 12, 10, 9, 11), (2, 3, 1, 1, 2, 2),
                                   (2, 4, 3, 3, 1, 5), (3, 4, 2, 3, 4, 1), (2, 5, 3, 2, 1, 1)])
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
    if dtype == torch.float64:  # both compute in fp32
        torch.testing.assert_close(naive[0], lean[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(naive[2].float(), lean[2].float(), rtol=1e-5, atol=1e-6)
    else:  # naive computes in fp32, lean in the half dtype (AMP): within its rounding, bounds in test_lc_loss_amp.py
        u = 2.0**-11 if dtype == torch.float16 else 2.0**-8
        torch.testing.assert_close(naive[0], lean[0], rtol=u, atol=0)
        assert (naive[2].float() - lean[2].float()).norm() <= 8 * u * naive[2].float().norm()


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


def test_lean_equals_naive_on_zero_feature_vectors():
    # Zero cells hit F.normalize's eps floor: there the scale 1 / eps is constant and only the
    # tangential term of the normalisation's gradient vanishes.
    target, online, grid = _case(2, 5, 4, 4, 3, 5, spread=1.0, dtype=torch.float32, seed=5)
    target[0, :, 1, 2] = 0
    online[1, :, 0, :] = 0
    naive = _value_and_grads(target, online, grid, 'naive')
    lean = _value_and_grads(target, online, grid, 'lean', 3)
    for a, b in zip(naive, lean):  # gradients reach ~1e8 at the zero cells: tolerance relative to the largest
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * max(1.0, a.abs().max().item()))
    assert naive[1].abs().max() > 1e6  # the floor's 1 / eps scale really was exercised


class _TensorProbe(TorchDispatchMode):
    """Records the largest tensor any aten op returns, and how many distinct storages of at least ``big``
    elements were alive at once."""

    def __init__(self, big):
        super().__init__()
        self.big, self.largest, self.most_alive = big, (0, ''), 0
        self._alive = {}  # id -> (storage pointer, weak reference), dropped when the tensor dies

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, (t.numel(), str(func)))
                if t.untyped_storage().nbytes() >= self.big * t.element_size() and id(t) not in self._alive:
                    ref = weakref.ref(t, lambda _, key=id(t): self._alive.pop(key, None))
                    self._alive[id(t)] = (t.untyped_storage().data_ptr(), ref)
        self.most_alive = max(self.most_alive, len({ptr for ptr, _ in self._alive.values()}))
        return out


@pytest.mark.parametrize('needs_grad', ['online', 'target', 'both'])
def test_lean_never_allocates_the_similarity_matrix(needs_grad):
    b, c, side, chunk = 2, 3, 8, 4
    target, online, grid = _case(b, c, side, side, side, side, spread=1.0, dtype=torch.float32, seed=2)
    n = side * side
    probes = {}
    for impl in ('naive', 'lean'):
        t = target.clone().requires_grad_(needs_grad != 'online')
        o = online.clone().requires_grad_(needs_grad != 'target')
        with _TensorProbe(big=b * chunk * n) as probe:
            local_contrastive_loss(t, o, grid, impl=impl, chunk_size=chunk).backward()
        probes[impl] = probe
    assert probes['naive'].largest[0] >= b * n * n  # the probe sees the naive path's (B, Nt, No) matrices
    # lean: nothing larger than the (B * chunk) x N similarity buffer (the (B, C, N) gradients are smaller here),
    # and never a second one unless both inputs need gradients
    assert probes['lean'].largest[0] == b * chunk * n, probes['lean'].largest
    assert probes['lean'].most_alive == (2 if needs_grad == 'both' else 1)


def test_blocks_by_hand():
    # small maps: whole images, as many as fit in the rows; large maps: runs of one image's cells
    assert list(_blocks(5, 4, 8)) == [(0, 2, 0, 4), (2, 4, 0, 4), (4, 5, 0, 4)]
    assert list(_blocks(2, 10, 4)) == [(0, 1, 0, 4), (0, 1, 4, 8), (0, 1, 8, 10), (1, 2, 0, 4), (1, 2, 4, 8),
                                       (1, 2, 8, 10)]
    assert list(_blocks(3, 4, 4)) == [(0, 1, 0, 4), (1, 2, 0, 4), (2, 3, 0, 4)]


def _corners_by_loops(x, y, height, width):
    """Bilinear read positions of one point, written out independently: {flat index: weight}."""
    px = min(max(((x + 1) * width - 1) / 2, 0), width - 1)
    py = min(max(((y + 1) * height - 1) / 2, 0), height - 1)
    x0, y0 = int(px // 1), int(py // 1)
    out = {}
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if wx * wy > 0:
                assert yy < height and xx < width
                out[yy * width + xx] = out.get(yy * width + xx, 0) + wx * wy
    return out


@pytest.mark.parametrize('height, width', [(4, 6), (1, 5), (3, 1), (1, 1)])
def test_bilinear_corners_against_loops(height, width):
    g = torch.Generator().manual_seed(height * 10 + width)
    points = (torch.rand(2, 7, 2, generator=g) * 2 - 1) * 1.5  # many clamped to the border
    points[0, 0] = torch.tensor([1.0, 1.0])  # exactly the bottom-right corner
    index, weight = bilinear_corners(points, height, width)
    assert int(index.min()) >= 0 and int(index.max()) < height * width
    for b in range(2):
        for n in range(7):
            got = {}
            for i, w in zip(index[b, n].tolist(), weight[b, n].tolist()):
                if w > 0:
                    got[i] = got.get(i, 0) + w
            want = _corners_by_loops(*points[b, n].tolist(), height, width)
            assert got.keys() == want.keys()
            for key in want:
                assert got[key] == pytest.approx(want[key], abs=1e-6)

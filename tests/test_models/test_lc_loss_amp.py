# Copyright (c) mmlc contributors. All rights reserved.
"""The LC-loss under AMP: fp16 / bf16 features stay in their dtype on the lean path, within rounding of fp32.

Tolerances are in units of the half dtype's unit roundoff u (bf16 keeps 8 significant bits: u = 2^-8 = 3.9e-3;
fp16 11: u = 2^-11 = 4.9e-4), the largest relative error of one rounding.

* Loss: rtol = u. The similarities are stored in half, so each pair's NLL is off by up to u / tau, but the
  errors of independent pairs average out in the mean (measured <= 0.49 u over the cases of
  ``test_lean_half_matches_fp32_reference``, the naive path under autocast <= 0.25 u); u is what rounding the
  loss itself to half once would cost.
* Gradients: norm-wise ``||g - g_ref|| / ||g_ref|| <= 8 u`` (3.1% bf16, 0.39% fp16). Each entry goes through
  about eight roundings in half (similarity GEMM, its two scalings, exp, the corner weights, the row scale, the
  gradient GEMM, the normalisation's two steps); measured <= 3.4 u, the naive path under autocast <= 2.8 u.
* One training step of BYOLLocalContrast under bf16 autocast: see ``test_byol_lc_step_under_bf16_autocast``
  (an ill-conditioned step: compared with fp32 against the floor of rounding its inputs once, and the LC-loss's
  own share isolated under the same autocast).
"""
import copy

import pytest
import torch
from mmpretrain.registry import MODELS
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

import mmlc.models.losses.local_losses as local_losses
from mmlc.models.losses import local_contrastive_loss
from .test_byol_lc import batch, lc_cfg
from .test_lean_lc_loss import _case
from .test_local_contrastive_loss import reference_lc

HALF = (torch.float16, torch.bfloat16)
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
LOSS_TOL, GRAD_TOL = 1, 8  # in units of u, see the module docstring


def _masked_case(b, c, ht, wt, ho, wo, dtype, seed):
    """Random features in ``dtype`` and a grid with points outside I_sc, an image without any valid point and
    NaN points."""
    target, online, grid = _case(b, c, ht, wt, ho, wo, spread=1.3, dtype=dtype, seed=seed)
    grid[0] = 3.0  # image 0: nothing valid
    grid[1, :2] = float('nan')  # image 1: its first two rows invalid
    return target, online, grid


def _loss_and_grads(target, online, grid, tau=0.2, impl='lean', chunk=16, scale=1.0):
    target = target.detach().clone().requires_grad_()
    online = online.detach().clone().requires_grad_()
    loss = local_contrastive_loss(target, online, grid, tau=tau, impl=impl, chunk_size=chunk)
    (loss * scale).backward()
    return loss.detach(), target.grad, online.grad


def _fp32_reference(target, online, grid, tau):
    """The naive implementation, which computes in fp32 (checked against the loop reference in
    test_local_contrastive_loss.py), on the half inputs upcast to fp32: its own error (~1e-6) is far below u."""
    return _loss_and_grads(target.float(), online.float(), grid, tau, impl='naive')


def _relative_error(got, want):
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


def _assert_within_rounding(got, want, dtype, rounding=None):
    """Loss fp32 and gradients in ``dtype``, within the tolerances for the unit roundoff of ``rounding`` (defaults
    to ``dtype``)."""
    u = UNIT_ROUNDOFF[rounding or dtype]
    loss, *grads = got
    loss_ref, *grads_ref = want
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    torch.testing.assert_close(loss.double(), loss_ref.double(), rtol=LOSS_TOL * u, atol=0)
    for grad, grad_ref in zip(grads, grads_ref):
        assert grad.dtype == dtype and torch.isfinite(grad).all()
        assert _relative_error(grad, grad_ref) <= GRAD_TOL * u, _relative_error(grad, grad_ref) / u


@pytest.mark.parametrize('dtype', HALF)
@pytest.mark.parametrize('shape', [(2, 16, 7, 7, 7, 7), (3, 32, 14, 14, 14, 14), (3, 8, 5, 6, 7, 4)])
@pytest.mark.parametrize('tau', [0.2, 0.07])
@pytest.mark.parametrize('chunk', [3, 16])  # 14x14: several blocks per image accumulate into one gradient
def test_lean_half_matches_fp32_reference(dtype, shape, tau, chunk):
    target, online, grid = _masked_case(*shape, dtype=dtype, seed=sum(shape))
    got = _loss_and_grads(target, online, grid, tau, impl='lean', chunk=chunk)
    _assert_within_rounding(got, _fp32_reference(target, online, grid, tau), dtype)


def test_lean_half_matches_the_loop_reference():
    target, online, grid = _masked_case(3, 6, 4, 3, 3, 5, dtype=torch.bfloat16, seed=4)
    loss = local_contrastive_loss(target, online, grid, tau=0.3, impl='lean', chunk_size=2)
    want = reference_lc(target, online, grid, 0.3)
    torch.testing.assert_close(loss.double(), want, rtol=UNIT_ROUNDOFF[torch.bfloat16], atol=0)


@pytest.mark.parametrize('dtype', HALF)
@pytest.mark.parametrize('which', ['target', 'online'])
def test_lean_half_gradient_of_one_input_only(dtype, which):
    # BYOL trains the online branch only: the target's gradient is then never formed, and vice versa.
    target, online, grid = _masked_case(3, 8, 7, 7, 6, 6, dtype=dtype, seed=7)
    grads = {}
    for name, (t, o) in {'half': (target, online), 'fp32': (target.float(), online.float())}.items():
        t, o = t.clone().requires_grad_(which == 'target'), o.clone().requires_grad_(which == 'online')
        local_contrastive_loss(t, o, grid, impl='lean' if name == 'half' else 'naive', chunk_size=5).backward()
        grads[name] = (t if which == 'target' else o).grad
    assert grads['half'].dtype == dtype
    assert _relative_error(grads['half'], grads['fp32']) <= GRAD_TOL * UNIT_ROUNDOFF[dtype]


def test_fp16_gradients_without_a_loss_scale_do_not_underflow():
    # Without GradScaler the incoming gradient is 1 / (B * pairs); times softmax entries ~1 / No it is below fp16's
    # normal range (6e-5). The lean path keeps it near 1 internally: scaling the loss by 2^12 (as GradScaler does)
    # changes the gradients by rounding only, and both match the reference.
    target, online, grid = _case(1, 32, 20, 20, 20, 20, spread=1.0, dtype=torch.float16, seed=0)
    want = _fp32_reference(target, online, grid, 0.2)
    plain = _loss_and_grads(target, online, grid)
    scaled = _loss_and_grads(target, online, grid, scale=2.0**12)
    _assert_within_rounding(plain, want, torch.float16)
    for a, b in zip(plain[1:], scaled[1:]):
        assert _relative_error(a, b.double() / 2**12) <= 2 * UNIT_ROUNDOFF[torch.float16]


def test_fp16_zero_feature_vectors_stay_local():
    # A zero vector's cosine is 0 (F.normalize's eps floor); 1 / eps is beyond fp16's range, so its factor saturates
    # instead of making 0 * inf = NaN. The gradient at such a cell is ~1e12 times dL/du in fp32 as well: beyond
    # fp16, it may overflow there, but nowhere else, and every other cell matches the reference.
    target, online, grid = _case(2, 8, 7, 7, 7, 7, spread=1.0, dtype=torch.float16, seed=1)
    target[0, :, 1, 2] = 0
    online[1, :, 3, :] = 0
    got = _loss_and_grads(target, online, grid)
    want = _fp32_reference(target, online, grid, 0.2)
    torch.testing.assert_close(got[0], want[0], rtol=LOSS_TOL * UNIT_ROUNDOFF[torch.float16], atol=0)
    for grad, grad_ref, zero in zip(got[1:], want[1:], (target == 0, online == 0)):
        others = ~zero.all(dim=1, keepdim=True).expand_as(zero)  # (B, C, H, W): cells that are not zero vectors
        assert torch.isfinite(grad[others]).all()
        assert _relative_error(grad[others], grad_ref[others]) <= GRAD_TOL * UNIT_ROUNDOFF[torch.float16]


class _DtypeProbe(TorchDispatchMode):
    """Records (numel, dtype, op) of every tensor an aten op returns."""

    def __init__(self):
        super().__init__()
        self.tensors = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.tensors.append((t.numel(), t.dtype, str(func)))
        return out


@pytest.mark.parametrize('dtype', HALF)
@pytest.mark.parametrize('needs_grad', ['online', 'both'])
def test_lean_half_makes_no_fp32_copy(dtype, needs_grad):
    b, c, side, chunk = 2, 8, 8, 4
    n = side * side
    features, buffer = b * c * n, b * chunk * n  # elements of each feature map and of the similarity buffer
    target, online, grid = _case(b, c, side, side, side, side, spread=1.0, dtype=dtype, seed=2)
    t = target.clone().requires_grad_(needs_grad == 'both')
    o = online.clone().requires_grad_()
    with _DtypeProbe() as probe:
        loss = local_contrastive_loss(t, o, grid, impl='lean', chunk_size=chunk)
        loss.backward()
    assert loss.dtype == torch.float32 and o.grad.dtype == dtype
    big = [(numel, dt, op) for numel, dt, op in probe.tensors if numel >= min(features, buffer)]
    assert big and all(dt == dtype for _, dt, _ in big), [x for x in big if x[1] != dtype]
    # the similarity buffer (allocated flat, forward and backward) is in the features' dtype, and nothing is larger
    # than the features or that buffer
    assert [dt for numel, dt, op in big if numel == buffer and 'empty' in op] == [dtype, dtype]
    assert max(numel for numel, _, _ in probe.tensors) == max(features, buffer)
    # the probe does see an fp32 copy of the features where one is made
    with _DtypeProbe() as probe:
        target.float()
    assert (features, torch.float32, 'aten._to_copy.default') in probe.tensors


@pytest.mark.parametrize('dtype', HALF)
def test_lean_half_allocates_nothing_of_fp32_size(dtype):
    # Below the dispatcher too: on CPU an op mixing a half tensor with fp32 factors copies it to fp32 inside the
    # kernel, which the dispatch probe cannot see; the profiler records every allocation. Sizes chosen so that the
    # features and the buffer have as many elements, and any other tensor (indices, grid) no more bytes than they.
    b, c, side, chunk = 2, 4, 16, 4
    elements = b * c * side * side
    assert elements == b * chunk * side * side
    target, online, grid = _case(b, c, side, side, side, side, spread=1.0, dtype=dtype, seed=3)
    t, o = target.clone().requires_grad_(), online.clone().requires_grad_()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        local_contrastive_loss(t, o, grid, impl='lean', chunk_size=chunk).backward()
    largest = max((e.self_cpu_memory_usage, e.name) for e in prof.events())
    assert elements * 2 <= largest[0] < elements * 4, largest  # half-sized, and nothing of fp32 size
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:  # the same check catches fp32
        local_contrastive_loss(t.float(), o.float(), grid, impl='lean', chunk_size=chunk)
    assert max(e.self_cpu_memory_usage for e in prof.events()) >= elements * 4


def _spy_on_lean(monkeypatch):
    """Record the dtype of the features each call of the lean path receives."""
    calls = []
    real = local_losses._pair_nll_lean
    monkeypatch.setattr(local_losses, '_pair_nll_lean', lambda *a: calls.append(a[0].dtype) or real(*a))
    return calls


@pytest.mark.parametrize('autocast', [False, True])
def test_auto_choice_and_dtypes_under_autocast(monkeypatch, autocast):
    # 'auto' picks by map size only, whatever the dtype; only the lean path keeps half features half.
    calls = _spy_on_lean(monkeypatch)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        for side, lean in ((5, False), (7, True)):
            for dtype in (torch.float32, torch.bfloat16, torch.float16):
                target, online, grid = _case(2, 4, side, side, side, side, 1.0, dtype, 0)
                online.requires_grad_()
                loss = local_contrastive_loss(target, online, grid)
                loss.backward()
                assert loss.dtype == torch.float32 and online.grad.dtype == dtype
                assert calls == ([dtype] if lean else []), (side, dtype, calls)
                calls.clear()
    # mixed dtypes are computed in fp32
    target, online, grid = _case(2, 4, 7, 7, 7, 7, 1.0, torch.float32, 0)
    local_contrastive_loss(target, online.bfloat16(), grid)
    assert calls == [torch.float32]


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_naive_path_under_autocast(dtype):
    # The naive path computes in fp32 on upcast features; under autocast its similarity einsum runs in bf16.
    target, online, grid = _masked_case(3, 16, 5, 5, 4, 6, dtype=dtype, seed=5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = _loss_and_grads(target, online, grid, impl='naive')
    # fp32 features too get bf16 similarities: the bounds for bf16's u apply either way
    _assert_within_rounding(got, _fp32_reference(target, online, grid, 0.2), dtype, rounding=torch.bfloat16)


def _step(model, inputs, samples, autocast):
    """One forward + backward of the summed losses; returns the losses and every parameter's gradient."""
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        out = model.loss(inputs, samples)
    (out['loss_global'] + out['loss_local']).backward()  # mmengine sums the keys containing "loss"
    return out, {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


def _all(grads):
    return torch.cat([g.flatten() for g in grads.values()])


def test_byol_lc_step_under_bf16_autocast(monkeypatch):
    """One training step under CPU bf16 autocast against the same step in fp32, from identical weights and inputs.

    This step is ill-conditioned: at random initialisation, with BN over 4 images (BN1d in the projector and
    predictor sees 4 values per channel), rounding only the fp32 step's inputs and weights to bf16 once already
    changes its parameter gradients by 30-130% norm-wise (seeds 0-5). No bf16 computation can match the fp32
    gradients more closely than that floor, so they are compared with it, and the LC-loss's own share is isolated
    by a second comparison under the same autocast:

    * against fp32: ``loss_local`` within 5% relative (measured <= 2.2%, the floor up to 1.9%); ``loss_global``
      = (1 - alpha) * 2 * (-cos_1 - cos_2), which lies in [-2, 2] and can be near 0, within 0.06 absolute, i.e.
      each mean cosine within 0.03 (measured <= 0.036 on the loss); all parameter gradients together within 3x
      the floor (measured 0.56-2.2x).
    * the bf16 LC-loss against the LC-loss on fp32 copies of the same bf16 features (the behaviour before AMP
      support), everything else identical: ``loss_local`` within u (measured <= 0.46 u), all parameter gradients
      together within 8 u and every parameter's within 16 u norm-wise (measured <= 3.1 u and 10 u): the bounds of
      the unit tests above, the backward through the network being linear in the LC-loss's gradient.
    """
    torch.manual_seed(0)
    model = MODELS.build(lc_cfg(alpha=0.5, impl='lean', chunk_size=1))
    inputs, samples = batch(b=4, size=64)
    calls = _spy_on_lean(monkeypatch)
    out_ref, grads_ref = _step(copy.deepcopy(model), inputs, samples, autocast=False)
    out, grads = _step(copy.deepcopy(model), inputs, samples, autocast=True)
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.bfloat16())
    _, grads_floor = _step(rounded, [x.bfloat16().float() for x in inputs], samples, autocast=False)
    monkeypatch.setattr(local_losses, 'LOW_PRECISION', ())  # the LC-loss on fp32 copies of the features
    out_fp32_lc, grads_fp32_lc = _step(copy.deepcopy(model), inputs, samples, autocast=True)
    # under autocast the local features reach the lean path in bf16 (unless forced to fp32 copies)
    assert calls == [torch.float32, torch.bfloat16, torch.float32, torch.float32]
    assert grads.keys() == grads_ref.keys() == grads_fp32_lc.keys() and len(grads) > 50
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert out['loss_local'].dtype == torch.float32  # (mmpretrain's global loss comes out in bf16)

    # against the fp32 step
    assert torch.isfinite(out['loss_global']) and torch.isfinite(out['loss_local'])
    torch.testing.assert_close(out['loss_local'], out_ref['loss_local'], rtol=5e-2, atol=0)
    torch.testing.assert_close(out['loss_global'].float(), out_ref['loss_global'], rtol=0, atol=0.06)
    floor = _relative_error(_all(grads_floor), _all(grads_ref))
    assert 0 < _relative_error(_all(grads), _all(grads_ref)) <= 3 * floor

    # the LC-loss's own share: bf16 against fp32 inside the same autocast step
    u = UNIT_ROUNDOFF[torch.bfloat16]
    torch.testing.assert_close(out['loss_local'], out_fp32_lc['loss_local'], rtol=u, atol=0)
    assert _relative_error(_all(grads), _all(grads_fp32_lc)) <= GRAD_TOL * u
    for name, grad in grads.items():
        assert (grad - grads_fp32_lc[name]).norm() <= 2 * GRAD_TOL * u * grads_fp32_lc[name].norm(), name
    assert grads['local_neck.conv1.weight'].abs().sum() > 0  # the local branch did train through the bf16 LC-loss

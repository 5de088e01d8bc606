# Copyright (c) mmlc contributors. All rights reserved.
"""Local losses between dense features of two views with known correspondence.

Pure tensor functions (no registry, no config, no distributed calls); the registered
:class:`~mmlc.models.heads.LCLossHead` holds the hyper-parameters and calls them.
"""

from typing import Iterator, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

LC_IMPLS = ('auto', 'naive', 'lean')

#: Feature dtypes the lean path computes in as they are (AMP); any other dtype is computed in fp32.
LOW_PRECISION = (torch.float16, torch.bfloat16)

#: Target cells per image in the lean path's similarity buffer: it holds ``B * chunk_size`` rows of Ho*Wo
#: similarities, 1/16 of the online gradient that every implementation returns (B, C, Ho*Wo) for C = 256, so
#: the lean path's peak stays close to that gradient (benchmarks/bench_loss.py).
DEFAULT_CHUNK = 16


def check_lc_options(tau: float, impl: str = 'auto', chunk_size: int = DEFAULT_CHUNK) -> None:
    """Raise ``ValueError`` for an unusable temperature, implementation name or chunk size."""
    if not (isinstance(tau, (int, float)) and not isinstance(tau, bool) and tau > 0):
        raise ValueError(f'tau must be a number > 0, got {tau!r}')
    if impl not in LC_IMPLS:
        raise ValueError(f'impl must be one of {LC_IMPLS}, got {impl!r}')
    if not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f'chunk_size must be a positive int, got {chunk_size!r}')


def _check_inputs(target: Tensor, online: Tensor, grid: Tensor) -> None:
    """Raise ``ValueError`` unless the three tensors describe one batch of map pairs."""
    if target.dim() != 4 or online.dim() != 4:
        raise ValueError('target and online must be (B, C, H, W) feature maps, got shapes '
                         f'{tuple(target.shape)} and {tuple(online.shape)}')
    if target.shape[0] != online.shape[0]:
        raise ValueError(f'batch sizes differ: target has {target.shape[0]} images, '
                         f'online has {online.shape[0]}')
    if target.shape[1] != online.shape[1]:
        raise ValueError(f'channel sizes differ: target has {target.shape[1]} channels, '
                         f'online has {online.shape[1]}')
    if target.numel() == 0 or online.numel() == 0:
        raise ValueError('target and online must be non-empty (at least one image, channel and cell), got '
                         f'shapes {tuple(target.shape)} and {tuple(online.shape)}')
    b, _, ht, wt = target.shape
    if tuple(grid.shape) != (b, ht, wt, 2):
        raise ValueError(f'grid must have shape (B, Ht, Wt, 2) = {(b, ht, wt, 2)} to match target, '
                         f'got {tuple(grid.shape)}')


def valid_and_safe_grid(grid: Tensor) -> Tuple[Tensor, Tensor]:
    """Split a correspondence grid into a validity mask and a grid safe to sample with.

    A pair is valid when its point lies inside I_sc, i.e. ``|x| <= 1`` and ``|y| <= 1``
    (``align_corners=False`` convention). Non-finite points are invalid. Invalid points are
    replaced by 0 so that neither the forward value nor the gradient can pick up NaN.

    Args:
        grid (Tensor): (B, Ht, Wt, 2) points (x, y) in I_sc's normalised coordinates.

    Returns:
        tuple[Tensor, Tensor]: ``valid`` (B, Ht*Wt) bool and the sanitised grid (B, Ht*Wt, 2) fp32.
    """
    grid = grid.float().flatten(1, 2)  # (B, Nt, 2)
    valid = torch.isfinite(grid).all(-1) & (grid.abs() <= 1).all(-1)  # (B, Nt)
    safe = torch.where(valid[..., None], grid, torch.zeros_like(grid))
    return valid, safe


def masked_mean_per_image(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of ``values`` over valid pairs per image, then over images with any valid pair (Equation 4).

    With no valid pair in the whole batch the result is ``0 * values.sum()``: zero, yet still
    connected to the autograd graph so that every rank of a DDP run calls backward on the same
    parameters.

    Args:
        values (Tensor): (B, N) per-pair losses, fp32.
        valid (Tensor): (B, N) bool mask.

    Returns:
        Tensor: scalar.
    """
    values = torch.where(valid, values, torch.zeros_like(values))
    count = valid.sum(dim=1)  # (B,)
    has_pairs = count > 0
    if not bool(has_pairs.any()):
        return values.sum() * 0.
    per_image = values.sum(dim=1) / count.clamp(min=1)  # (B,)
    return per_image[has_pairs].mean()


def sample_bilinear(maps: Tensor, points: Tensor) -> Tensor:
    """Sample each of ``N`` maps of an image at its own point, bilinearly, clamped to the border.

    Args:
        maps (Tensor): (B, N, Ho, Wo) one map per point.
        points (Tensor): (B, N, 2) points (x, y), ``align_corners=False`` convention.

    Returns:
        Tensor: (B, N) sampled values.
    """
    b, n, ho, wo = maps.shape
    sampled = F.grid_sample(
        maps.reshape(b * n, 1, ho, wo),  # (B*N, 1, Ho, Wo)
        points.reshape(b * n, 1, 1, 2),  # (B*N, 1, 1, 2)
        mode='bilinear',
        padding_mode='border',
        align_corners=False)  # (B*N, 1, 1, 1)
    return sampled.reshape(b, n)


def bilinear_corners(points: Tensor, height: int, width: int) -> Tuple[Tensor, Tensor]:
    """Flat indices and weights of the four cells that bilinear sampling at ``points`` blends.

    Matches ``F.grid_sample(mode='bilinear', padding_mode='border', align_corners=False)``: the point is
    moved to pixel-centre coordinates, clamped to the border cells, and split between its corners. The
    weights of a point always sum to one. A corner beyond the last column (row) always has weight 0; its
    index is then only kept inside the map.

    Args:
        points (Tensor): (B, N, 2) points (x, y) in normalised coordinates.
        height (int): Map height Ho.
        width (int): Map width Wo.

    Returns:
        tuple[Tensor, Tensor]: ``index`` (B, N, 4) long into the flattened (Ho*Wo) map and ``weight``
        (B, N, 4), for the corners (y0, x0), (y0, x1), (y1, x0), (y1, x1).
    """
    return _Corners(points, height, width).block(0, points.shape[0], 0, points.shape[1])


def _inverse_norms(x: Tensor, eps: float = 1e-12) -> Tuple[Tensor, Tensor]:
    """``1 / max(||x||, eps)`` over channels, as ``F.normalize`` divides, and the slope of the normal part.

    Args:
        x (Tensor): (B, C, N) features, fp32, fp16 or bf16.
        eps (float): ``F.normalize``'s floor on the norm. Defaults to 1e-12.

    Returns:
        tuple[Tensor, Tensor]: ``r`` (B, N) and ``r3`` (B, N), fp32, where ``r3`` is ``r ** 3`` where the norm is
        above ``eps`` and 0 where the floor applies (there the scale does not depend on ``x``).
    """
    # Half inputs: the kernel accumulates in fp32 and rounds each norm once; norm(dtype=float32) would first
    # copy all of x to fp32.
    norm = x.norm(dim=1).float()  # (B, N)
    r = 1 / norm.clamp(min=eps)
    return r, torch.where(norm > eps, r * r * r, torch.zeros_like(r))


def _normalize_backward_(grad_u: Tensor, x: Tensor, r: Tensor, r3: Tensor, scale: Union[float, Tensor],
                         cols: int) -> Tensor:
    """Turn ``dL/du`` into ``dL/dx`` for ``u = x / max(||x||, eps)``, in place, times ``scale``.

    ``dL/dx = r * dL/du - r^3 (x . dL/du) x`` (the second term only where the norm is above ``eps``).
    The per-cell dot products are taken ``cols`` cells at a time, so no (B, C, N) temporary is made.

    Args:
        grad_u (Tensor): (B, C, N) ``dL/du`` in the dtype of ``x``; overwritten with the result.
        x (Tensor): (B, C, N) raw features.
        r (Tensor): (B, N) fp32 inverse norms.
        r3 (Tensor): (B, N) fp32, from :func:`_inverse_norms`.
        scale (float | Tensor): Factor applied to the result (``1 / tau``, or a 0-dim fp32 tensor).
        cols (int): Cells per step of the dot products.

    Returns:
        Tensor: ``grad_u``, now (B, C, N) ``scale * dL/dx``.
    """
    n = x.shape[2]
    dots = x.new_empty(x.shape[0], n, dtype=torch.float32)  # (B, N)
    for s in range(0, n, cols):
        e = min(s + cols, n)
        dots[:, s:e] = (x[:, :, s:e] * grad_u[:, :, s:e]).sum(dim=1)  # accumulated in fp32 for half inputs too
    grad_u.mul_(_factors_as(r * scale, grad_u.dtype)[:, None, :])
    return grad_u.addcmul_(x, _factors_as(r3 * dots * scale, grad_u.dtype)[:, None, :], value=-1)


def _factors_as(factors: Tensor, dtype: torch.dtype) -> Tensor:
    """Fp32 row or column factors in the ``dtype`` of the (buffer- or feature-sized) tensor they scale.

    On CPU an op mixing dtypes copies its operands to the common dtype: ``bf16_buffer.mul_(fp32_factors)`` would
    allocate two fp32 copies of the buffer. The factors are clamped to a quarter of the dtype's range (fp16 ends at
    65504), so that ``1 / eps`` of a zero vector times an entry of the scaled G (below 2) stays finite where the
    matrix products then multiply it by that vector's zeros (``0 * inf`` would be NaN). A no-op for fp32.
    """
    if factors.dtype == dtype:
        return factors
    big = torch.finfo(dtype).max / 4
    return factors.clamp(-big, big).to(dtype)


def _blocks(batch: int, cells: int, rows: int) -> Iterator[Tuple[int, int, int, int]]:
    """Split B images x ``cells`` target cells into blocks of at most ``rows`` (image, cell) pairs.

    Small maps are taken several whole images at a time; large maps one image at a time in runs of
    ``rows`` cells, so that every block's matrix products have many rows however small the batch is.

    Yields:
        tuple[int, int, int, int]: ``(b0, b1, s, e)``, images ``b0:b1`` and target cells ``s:e``.
    """
    if cells == 0:
        return
    if cells <= rows:
        step = rows // cells
        for b0 in range(0, batch, step):
            yield b0, min(b0 + step, batch), 0, cells
    else:
        for b0 in range(batch):
            for s in range(0, cells, rows):
                yield b0, b0 + 1, s, min(s + rows, cells)


class _ChunkedPointNLL(torch.autograd.Function):
    """NLL of Equation 3 read at bilinear points, without ever holding the (Nt x No) similarity matrix.

    Works in the features' dtype: fp32, or fp16 / bf16 under AMP. With half features the similarity buffer and
    both gradients are half and the matrix products run in half (fp32 accumulation inside, as under autocast).
    Every reduction (norms, the log-sum-exp's row sums, the normalisation's dot products) accumulates in fp32
    inside its kernel and rounds its (B, N) result once to half (``sum(dtype=torch.float32)`` would first copy
    its whole input to fp32 on CPU); from there the per-row quantities, the bilinear picks and the returned NLL
    are fp32. No fp32 tensor of the features' or the buffer's size is made. Autocast is switched off inside, so
    that it cannot move these choices (on CUDA it would upcast ``norm`` and ``sum`` inputs to fp32).

    For a point with corner weights w_i (summing to one) the bilinearly sampled NLL is
    ``logsumexp_k(s_k) - sum_i w_i s_i`` with ``s_k = cos(t, o_k) / tau``. Forward and backward walk over
    blocks of (image, target cell) rows (:func:`_blocks`); only each row's log-sum-exp is kept between
    them, and the backward recomputes a block's similarities into the same buffer. The cosine
    normalisation is folded in (raw features in, gradients w.r.t. raw features out), so no normalised
    copy of the features exists either.

    With ``u = t r_t``, ``v = o r_o`` (``r = 1 / ||.||``) and ``G = dL/ds`` (softmax minus the corner
    weights, times the incoming gradient), ``dL/dv_j = (1 / tau) sum_i G_ij u_i``: the backward adds
    each block's ``sum_i G_ij r_i t_i`` straight into the online gradient it returns and applies the
    normalisation's gradient once at the end (:func:`_normalize_backward_`); the target gradient, needed
    only when the target branch is trained, is finished block by block. Extra memory besides the
    returned gradients: one buffer of ``rows x No`` similarities (two while both inputs need gradients)
    and O(B * (Nt + No)) vectors.
    """

    @staticmethod
    def forward(ctx, target: Tensor, online: Tensor, points: Tensor, height: int, width: int, tau: float,
                rows: int) -> Tensor:
        # target: (B, C, Nt), online: (B, C, No = height * width), one dtype (fp32, fp16 or bf16), not normalised;
        # points: (B, Nt, 2) fp32
        with torch.autocast(target.device.type, enabled=False):
            return _ChunkedPointNLL._forward(ctx, target, online, points, height, width, tau, rows)

    @staticmethod
    def _forward(ctx, target: Tensor, online: Tensor, points: Tensor, height: int, width: int, tau: float,
                 rows: int) -> Tensor:
        b, _, nt = target.shape
        r_t, r3_t = _inverse_norms(target)  # (B, Nt) each, fp32
        r_o, r3_o = _inverse_norms(online)  # (B, No) each, fp32
        lse = target.new_empty(b, nt, dtype=torch.float32)  # (B, Nt)
        picked = target.new_empty(b, nt, dtype=torch.float32)  # (B, Nt)
        corners = _Corners(points, height, width)
        buffer = online.new_empty(min(rows, b * nt) * online.shape[2])  # the features' dtype
        for b0, b1, s, e in _blocks(b, nt, rows):
            logits = _block_logits(buffer, target[b0:b1, :, s:e], r_t[b0:b1, s:e], online[b0:b1], r_o[b0:b1], tau)
            index, weight = corners.block(b0, b1, s, e)  # (b, n, 4) each
            picked[b0:b1, s:e] = (logits.gather(-1, index) * weight).sum(-1)  # fp32 weights: an fp32 sum
            top = logits.amax(dim=-1)  # (b, n); |logits| <= 1 / tau, so finite
            # exp in the buffer, its row sums accumulated in fp32 (rounded once for half), the log in fp32
            lse[b0:b1, s:e] = logits.sub_(top[..., None]).exp_().sum(-1).float().log_().add_(top)
        ctx.save_for_backward(target, online, lse, r_t, r3_t, r_o, r3_o, *corners.tensors())
        ctx.width, ctx.tau, ctx.rows = width, tau, rows
        return lse - picked  # (B, Nt) fp32

    @staticmethod
    def backward(ctx, grad_nll: Tensor):
        with torch.autocast(grad_nll.device.type, enabled=False):
            return _ChunkedPointNLL._backward(ctx, grad_nll)

    @staticmethod
    def _backward(ctx, grad_nll: Tensor):
        target, online, lse, r_t, r3_t, r_o, r3_o, *corner_tensors = ctx.saved_tensors
        corners = _Corners.from_tensors(*corner_tensors, ctx.width, online.shape[2])
        tau = ctx.tau
        b, _, nt = target.shape
        want_target, want_online = ctx.needs_input_grad[:2]
        dtype = online.dtype  # of the buffer and both gradients
        r_t_as, r_o_as = _factors_as(r_t, dtype), _factors_as(r_o, dtype)  # (B, Nt), (B, No)
        # Half: G = (p - w) dL/dnll is held as m G, with m a power of two that brings max |dL/dnll| near 1, and the
        # final scale divides by m (exact). Without a loss scale dL/dnll is 1 / (B * pairs), and times p ~ 1 / No
        # it would fall below fp16's normal range (6e-5).
        m = 1. if dtype == torch.float32 else _power_of_two_near_inverse(grad_nll)
        grad_target = torch.empty_like(target) if want_target else None
        grad_online = torch.zeros_like(online) if want_online else None  # (B, C, No): sum_i G_ij r_i t_i
        buffer, g = online.new_empty(min(ctx.rows, b * nt) * online.shape[2]), None
        for b0, b1, s, e in _blocks(b, nt, ctx.rows):
            t_blk, o_blk = target[b0:b1, :, s:e], online[b0:b1]  # (b, C, n), (b, C, No)
            g = _block_logits(buffer, t_blk, r_t[b0:b1, s:e], o_blk, r_o[b0:b1], tau)  # (b, n, No): s
            # softmax p = exp(s - lse) = exp(s - c) q with c = lse in the buffer's dtype and q = exp(c - lse): the
            # rounding of lse to half (up to 0.03 for bf16) then scales no row of p; q is exactly 1 in fp32.
            lse_blk = lse[b0:b1, s:e]  # (b, n) fp32
            c = lse_blk.to(dtype)
            q = torch.exp(c.float() - lse_blk)  # (b, n)
            g.sub_(c[..., None]).exp_()  # p / q
            index, weight = corners.block(b0, b1, s, e)  # (b, n, 4) each
            # p / q - w / q; put_ adds in place where scatter_add_ would copy a half g to fp32 (CPU). Of corners that
            # share a cell at most one has a nonzero weight, so the order of the additions cannot matter.
            row_id = torch.arange(index.shape[0] * index.shape[1], device=index.device).view(*index.shape[:2], 1)
            g.put_(index + row_id * g.shape[-1], _factors_as(-weight / q[..., None], dtype), accumulate=True)
            g.mul_(_factors_as(grad_nll[b0:b1, s:e] * q * m, dtype)[..., None])  # m G = m dL/ds
            if want_target:  # dL/du_i = (1 / tau) sum_j G_ij v_j, finished per block
                g_v = g * r_o_as[b0:b1, None, :] if want_online else g.mul_(r_o_as[b0:b1, None, :])  # G_ij r_j
                grad_u = torch.bmm(o_blk, g_v.transpose(1, 2))  # (b, C, n)
                del g_v  # the copy (both gradients wanted) must not outlive its block
                grad_target[b0:b1, :, s:e] = _normalize_backward_(grad_u, t_blk, r_t[b0:b1, s:e], r3_t[b0:b1, s:e],
                                                                  1 / (tau * m), e - s)
            if want_online:
                grad_online[b0:b1].baddbmm_(t_blk, g.mul_(r_t_as[b0:b1, s:e, None]))  # += sum_i G_ij r_i t_i
        del buffer, g  # the normalisation's column steps below reuse that memory
        if want_online:
            grad_online = _normalize_backward_(grad_online, online, r_o, r3_o, 1 / (tau * m), max(1, ctx.rows // b))
        return grad_target, grad_online, None, None, None, None, None


def _power_of_two_near_inverse(x: Tensor) -> Tensor:
    """``2 ** -floor(log2(max |x|))``, so that ``max |x| * m`` lies in [1, 2); 1 where ``x`` is all 0 or not finite.

    A 0-dim fp32 tensor (no host sync). Scaling by it is exact in floating point, away from under- and overflow.
    """
    top = x.detach().abs().amax().float()
    usable = (top > 0) & torch.isfinite(top)
    return torch.where(usable, torch.exp2(-torch.floor(torch.log2(torch.where(usable, top, 1.)))), 1.)


class _Corners:
    """The bilinear corners of all points, kept compact and expanded one block at a time.

    Stores each point's top-left cell ``base`` (B, N) and fractions ``ax``, ``ay`` (B, N), in pixel-centre
    coordinates clamped to the border cells. A block's four corners are ``base + (0, 1, W, W + 1)`` with
    weights ``(1 - ax)(1 - ay), ax (1 - ay), (1 - ax) ay, ax ay``. Where a point is clamped to the last
    column (row) its fraction is exactly 0, so the corner beyond it has weight 0 and its index only needs
    to stay inside the map.
    """

    def __init__(self, points: Tensor, height: int, width: int) -> None:
        px = (((points[..., 0] + 1) * width - 1) / 2).clamp(0, width - 1)  # (B, Nt)
        py = (((points[..., 1] + 1) * height - 1) / 2).clamp(0, height - 1)  # (B, Nt)
        x0, y0 = px.floor(), py.floor()
        self.base, self.ax, self.ay = (y0 * width + x0).long(), px - x0, py - y0
        self._finish(width, height * width)

    @classmethod
    def from_tensors(cls, base: Tensor, ax: Tensor, ay: Tensor, width: int, cells: int) -> '_Corners':
        self = cls.__new__(cls)
        self.base, self.ax, self.ay = base, ax, ay
        self._finish(width, cells)
        return self

    def _finish(self, width: int, cells: int) -> None:
        self.offsets = torch.tensor([0, 1, width, width + 1], device=self.base.device)
        self.last = cells - 1

    def tensors(self) -> Tuple[Tensor, Tensor, Tensor]:
        return self.base, self.ax, self.ay

    def block(self, b0: int, b1: int, s: int, e: int) -> Tuple[Tensor, Tensor]:
        """``index`` (b, n, 4) long and ``weight`` (b, n, 4) for images ``b0:b1``, points ``s:e``."""
        index = (self.base[b0:b1, s:e, None] + self.offsets).clamp_(max=self.last)
        ax, ay = self.ax[b0:b1, s:e, None], self.ay[b0:b1, s:e, None]  # (b, n, 1) each
        wx = torch.cat([1 - ax, ax], dim=-1)  # (b, n, 2): x0, x1
        weight = torch.cat([wx * (1 - ay), wx * ay], dim=-1)  # (b, n, 4): (y0, x0), (y0, x1), (y1, x0), (y1, x1)
        return index, weight


def _block_logits(buffer: Tensor, t_blk: Tensor, r_t: Tensor, o_blk: Tensor, r_o: Tensor, tau: float) -> Tensor:
    """``cos(t_i, o_j) / tau`` for a block, written into the front of ``buffer``: (b, n, No).

    Args:
        buffer (Tensor): flat storage of at least b * n * No elements in the features' dtype, reused by every block.
        t_blk (Tensor): (b, C, n) raw target features; ``r_t`` (b, n) their fp32 inverse norms.
        o_blk (Tensor): (b, C, No) raw online features; ``r_o`` (b, No) their fp32 inverse norms.
        tau (float): Temperature.
    """
    b, _, n = t_blk.shape
    logits = torch.bmm(t_blk.transpose(1, 2), o_blk, out=buffer[:b * n * o_blk.shape[2]].view(b, n, -1))
    col, row = _factors_as(r_o, logits.dtype), _factors_as(r_t / tau, logits.dtype)  # (b, No), (b, n)
    return logits.mul_(col[:, None, :]).mul_(row[:, :, None])  # scaled in place: no (b, C, n) copy


#: Above this many (target x online) cell pairs per image ``impl='auto'`` takes the memory-lean path. On
#: CPU the lean path measured faster than the naive one from 7x7 maps up (benchmarks/bench_loss.py), so
#: only tiny maps (up to 5x5) keep the single-matrix formulation.
LEAN_THRESHOLD = 32 * 32


def _pair_nll_naive(target_n: Tensor, online_n: Tensor, points: Tensor, tau: float, ho: int, wo: int) -> Tensor:
    """Equation 3 on the full (Nt x No) matrix, then bilinear sampling of each row's NLL map.

    (B, Nt).
    """
    b = target_n.shape[0]
    logits = torch.einsum('bcn,bcm->bnm', target_n, online_n) / tau  # (B, Nt, No)  Eq. 2 / tau
    nll = -F.log_softmax(logits, dim=-1)  # (B, Nt, No)  Eq. 3 at every online cell
    return sample_bilinear(nll.reshape(b, -1, ho, wo), points)  # (B, Nt)


def _pair_nll_lean(target: Tensor, online: Tensor, points: Tensor, tau: float, ho: int, wo: int, chunk: int) -> Tensor:
    """Same values and gradients as :func:`_pair_nll_naive` in O(B * chunk * No) extra memory.

    (B, Nt) fp32.
        Takes the raw (not normalised) features, (B, C, Nt) and (B, C, No), both fp32 or both of one half dtype
        (computed in that dtype, see :class:`_ChunkedPointNLL`); the gradients have the features' dtype.
    """
    return _ChunkedPointNLL.apply(target, online, points, ho, wo, tau, chunk * target.shape[0])


def local_contrastive_loss(target: Tensor,
                           online: Tensor,
                           grid: Tensor,
                           tau: float = 0.2,
                           impl: str = 'auto',
                           chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """Local contrastive (LC) loss of Islam et al., Equations 2-4.

    Every target cell p_c is compared by cosine similarity with every online cell (Eq. 2); the
    negative log-likelihood of the softmax over online cells (Eq. 3) is read bilinearly at the
    point p_sc where p_c lands in I_sc, and averaged over the valid pairs (Eq. 4).

    Args:
        target (Tensor): (B, C, Ht, Wt) local features of the colour-only view I_c, target branch.
        online (Tensor): (B, C, Ho, Wo) local features of the cropped view I_sc, online branch.
        grid (Tensor): (B, Ht, Wt, 2) where each I_c cell centre lands in I_sc, as (x, y) in
            ``F.grid_sample``'s ``align_corners=False`` convention. Points with ``|x| > 1`` or
            ``|y| > 1`` (outside I_sc) are ignored.
        tau (float): Softmax temperature. Defaults to 0.2.
        impl (str): ``'naive'`` materialises the (Ht*Wt) x (Ho*Wo) similarity matrix per image;
            ``'lean'`` never stores it (blocks of ``B * chunk_size`` rows, recomputed in the
            backward pass); ``'auto'`` picks ``'lean'`` above :data:`LEAN_THRESHOLD` cell pairs.
            Both give the same value and gradients. Defaults to ``'auto'``.
        chunk_size (int): The lean path's similarity buffer holds ``B * chunk_size`` rows of Ho*Wo values
            (taken as whole images for small maps, runs of one image's target cells for large ones).
            Defaults to :data:`DEFAULT_CHUNK` (16); larger values need more memory and can be faster.

    fp16 / bf16 features (AMP) of one dtype stay in that dtype on the lean path (similarities and gradients in
    half, reductions and the loss in fp32, no fp32 copy of the features); the naive path and every other dtype
    compute in fp32. Gradients always have the features' dtype.

    Returns:
        Tensor: scalar fp32 loss; per image the mean NLL over its valid pairs, then the mean over
        images with at least one valid pair (0, still in the graph, if there is none).
    """
    check_lc_options(tau, impl, chunk_size)
    _check_inputs(target, online, grid)
    _, _, ht, wt = target.shape
    _, _, ho, wo = online.shape
    valid, points = valid_and_safe_grid(grid)  # (B, Nt), (B, Nt, 2)
    lean = impl == 'lean' or (impl == 'auto' and ht * wt * ho * wo > LEAN_THRESHOLD)
    # AMP: the lean path takes fp16 / bf16 features as they are (fp32 accumulation inside); everything else is
    # computed in fp32, a copy only where the input is not fp32.
    as_is = lean and target.dtype == online.dtype and target.dtype in LOW_PRECISION
    target_flat = (target if as_is else target.float()).flatten(2)  # (B, C, Nt)
    online_flat = (online if as_is else online.float()).flatten(2)  # (B, C, No)
    if lean:
        nll_at_points = _pair_nll_lean(target_flat, online_flat, points, float(tau), ho, wo, chunk_size)
    else:
        nll_at_points = _pair_nll_naive(
            F.normalize(target_flat, dim=1), F.normalize(online_flat, dim=1), points, float(tau), ho, wo)
    return masked_mean_per_image(nll_at_points, valid)  # Eq. 4


def local_mse_loss(target: Tensor, online: Tensor, grid: Tensor) -> Tensor:
    """BYOL's normalised MSE between each target cell and the online map read at its grid point.

    The "BYOL + Local MSE loss" ablation of the paper's Table 6: online features are sampled
    bilinearly (border-clamped) at each target cell's point in I_sc, both sides are L2-normalised,
    and ``2 - 2 cos`` is averaged with the same validity rule as :func:`local_contrastive_loss`.

    Args:
        target (Tensor): (B, C, Ht, Wt) target-branch features of I_c.
        online (Tensor): (B, C, Ho, Wo) online-branch features of I_sc.
        grid (Tensor): (B, Ht, Wt, 2) as in :func:`local_contrastive_loss`.

    Returns:
        Tensor: scalar fp32 loss.
    """
    _check_inputs(target, online, grid)
    b, c, ht, wt = target.shape
    valid, points = valid_and_safe_grid(grid)  # (B, Nt), (B, Nt, 2)
    sampled = F.grid_sample(
        online.float(), points.reshape(b, ht, wt, 2), mode='bilinear', padding_mode='border',
        align_corners=False)  # (B, C, Ht, Wt)
    target_n = F.normalize(target.float().flatten(2), dim=1)  # (B, C, Nt)
    sampled_n = F.normalize(sampled.flatten(2), dim=1)  # (B, C, Nt)
    per_pair = 2 - 2 * (target_n * sampled_n).sum(dim=1)  # (B, Nt)
    return masked_mean_per_image(per_pair, valid)

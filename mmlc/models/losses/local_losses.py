# Copyright (c) mmlc contributors. All rights reserved.
"""Local losses between dense features of two views with known correspondence.

Pure tensor functions (no registry, no config, no distributed calls); the registered
:class:`~mmlc.models.heads.LCLossHead` holds the hyper-parameters and calls them.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

LC_IMPLS = ('auto', 'naive', 'lean')


def check_lc_options(tau: float, impl: str = 'auto', chunk_size: int = 64) -> None:
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
    """Mean of ``values`` over valid pairs per image, then over images with any valid pair (Eq. 4).

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
    weights of a point always sum to one.

    Args:
        points (Tensor): (B, N, 2) points (x, y) in normalised coordinates.
        height (int): Map height Ho.
        width (int): Map width Wo.

    Returns:
        tuple[Tensor, Tensor]: ``index`` (B, N, 4) long into the flattened (Ho*Wo) map and ``weight``
        (B, N, 4), for the corners (y0, x0), (y0, x1), (y1, x0), (y1, x1).
    """
    px = (((points[..., 0] + 1) * width - 1) / 2).clamp(0, width - 1)  # (B, N)
    py = (((points[..., 1] + 1) * height - 1) / 2).clamp(0, height - 1)  # (B, N)
    x0, y0 = px.floor(), py.floor()
    ax, ay = px - x0, py - y0
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=width - 1), (y0 + 1).clamp(max=height - 1)
    index = torch.stack([y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1], dim=-1)
    weight = torch.stack([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay], dim=-1)
    return index, weight


def _inverse_norms(x: Tensor, eps: float = 1e-12) -> Tuple[Tensor, Tensor]:
    """``1 / max(||x||, eps)`` over channels, as ``F.normalize`` divides, and the square of its slope.

    Args:
        x (Tensor): (B, C, N) features.
        eps (float): ``F.normalize``'s floor on the norm. Defaults to 1e-12.

    Returns:
        tuple[Tensor, Tensor]: ``r`` (B, N) and ``r2`` (B, N), which is ``r ** 2`` where the norm is
        above ``eps`` and 0 where the floor applies (there the scale does not depend on ``x``).
    """
    norm = x.norm(dim=1)  # (B, N)
    r = 1 / norm.clamp(min=eps)
    return r, torch.where(norm > eps, r * r, torch.zeros_like(r))


class _ChunkedPointNLL(torch.autograd.Function):
    """NLL of Eq. 3 read at bilinear points, without ever holding the (Nt x No) similarity matrix.

    For a point with corner weights w_i (summing to one) the bilinearly sampled NLL is
    ``logsumexp_k(s_k) - sum_i w_i s_i`` with ``s_k = cos(t, o_k) / tau``. Forward and backward walk over
    chunks of target cells; only the per-row log-sum-exp is kept between them, and the backward
    recomputes each chunk's similarities. The cosine normalisation is folded into the chunks (raw
    features in, gradients w.r.t. raw features out), so no normalised copy of the features exists either.
    Extra memory: two (B, chunk, No) buffers plus O(B * (Nt + No)) vectors.

    With ``u = t r_t`` and ``v = o r_o`` (``r = 1 / ||.||``) and ``G = dL/ds``:
    ``dL/dt_i = (r_i / tau) sum_j G_ij r_j o_j - r_i^2 t_i sum_j G_ij s_ij`` and symmetrically for ``o_j``.
    """

    @staticmethod
    def forward(ctx, target: Tensor, online: Tensor, index: Tensor, weight: Tensor, tau: float,
                chunk: int) -> Tensor:
        # target: (B, C, Nt), online: (B, C, No), fp32, not normalised; index / weight: (B, Nt, 4)
        nt = target.shape[2]
        r_t, r2_t = _inverse_norms(target)  # (B, Nt) each
        r_o, r2_o = _inverse_norms(online)  # (B, No) each
        lse = target.new_empty(target.shape[0], nt)  # (B, Nt)
        picked = target.new_empty(target.shape[0], nt)  # (B, Nt)
        for s in range(0, nt, chunk):
            e = min(s + chunk, nt)
            logits = _chunk_logits(target[:, :, s:e], online, r_t[:, s:e], r_o, tau)  # (B, n, No)
            lse[:, s:e] = torch.logsumexp(logits, dim=-1)
            picked[:, s:e] = (logits.gather(-1, index[:, s:e]) * weight[:, s:e]).sum(-1)
        ctx.save_for_backward(target, online, index, weight, lse, r_t, r2_t, r_o, r2_o)
        ctx.tau, ctx.chunk = tau, chunk
        return lse - picked  # (B, Nt)

    @staticmethod
    def backward(ctx, grad_nll: Tensor):
        target, online, index, weight, lse, r_t, r2_t, r_o, r2_o = ctx.saved_tensors
        tau, chunk = ctx.tau, ctx.chunk
        b, _, nt = target.shape
        grad_target = torch.empty_like(target) if ctx.needs_input_grad[0] else None
        want_online = ctx.needs_input_grad[1]
        if want_online:
            acc_online = torch.zeros_like(online)  # (B, C, No): sum_i G_ij r_i t_i
            q_online = online.new_zeros(b, online.shape[2])  # (B, No): sum_i G_ij s_ij
        for s in range(0, nt, chunk):
            e = min(s + chunk, nt)
            t_chunk = target[:, :, s:e]  # (B, C, n)
            logits = _chunk_logits(t_chunk, online, r_t[:, s:e], r_o, tau)  # (B, n, No): s
            # G = dL/ds = (softmax - w at the corners) * dL/dnll
            g = torch.sub(logits, lse[:, s:e, None]).exp_()  # (B, n, No) softmax
            g.scatter_add_(-1, index[:, s:e], -weight[:, s:e])
            g.mul_(grad_nll[:, s:e, None])
            gs = logits.mul_(g)  # (B, n, No): G * s, reusing the logits buffer
            if want_online:
                q_online.add_(gs.sum(dim=1))
                acc_online.baddbmm_(t_chunk * r_t[:, None, s:e], g)  # (B, C, No)
            if grad_target is not None:
                q_target = gs.sum(dim=2)  # (B, n)
                g.mul_(r_o[:, None, :])
                grad = torch.bmm(online, g.transpose(1, 2))  # (B, C, n): sum_j G_ij r_j o_j
                grad.mul_((r_t[:, s:e] / tau)[:, None, :])
                grad.addcmul_(t_chunk, (r2_t[:, s:e] * q_target)[:, None, :], value=-1)
                grad_target[:, :, s:e] = grad
        grad_online = None
        if want_online:
            grad_online = acc_online.mul_((r_o / tau)[:, None, :]).addcmul_(online, (r2_o * q_online)[:, None, :],
                                                                            value=-1)
        return grad_target, grad_online, None, None, None, None


def _chunk_logits(t_chunk: Tensor, online: Tensor, r_t: Tensor, r_o: Tensor, tau: float) -> Tensor:
    """``cos(t_i, o_j) / tau`` for a chunk of target cells: (B, C, n) x (B, C, No) -> (B, n, No)."""
    logits = torch.bmm(t_chunk.transpose(1, 2), online)  # (B, n, No) raw dot products
    return logits.mul_(r_o[:, None, :]).mul_((r_t / tau)[:, :, None])


#: Above this many (target x online) cell pairs per image ``impl='auto'`` takes the memory-lean path. On
#: CPU the lean path measured faster than the naive one from 7x7 maps up (benchmarks/bench_loss.py), so
#: only tiny maps (up to 5x5) keep the single-matrix formulation.
LEAN_THRESHOLD = 32 * 32


def _pair_nll_naive(target_n: Tensor, online_n: Tensor, points: Tensor, tau: float, ho: int, wo: int) -> Tensor:
    """Eq. 3 on the full (Nt x No) matrix, then bilinear sampling of each row's NLL map. (B, Nt)."""
    b = target_n.shape[0]
    logits = torch.einsum('bcn,bcm->bnm', target_n, online_n) / tau  # (B, Nt, No)  Eq. 2 / tau
    nll = -F.log_softmax(logits, dim=-1)  # (B, Nt, No)  Eq. 3 at every online cell
    return sample_bilinear(nll.reshape(b, -1, ho, wo), points)  # (B, Nt)


def _pair_nll_lean(target: Tensor, online: Tensor, points: Tensor, tau: float, ho: int, wo: int,
                   chunk: int) -> Tensor:
    """Same values and gradients as :func:`_pair_nll_naive` in O(chunk * No) extra memory. (B, Nt).

    Takes the raw (not normalised) fp32 features, (B, C, Nt) and (B, C, No).
    """
    index, weight = bilinear_corners(points, ho, wo)  # (B, Nt, 4) each
    return _ChunkedPointNLL.apply(target, online, index, weight, tau, chunk)


def local_contrastive_loss(target: Tensor,
                           online: Tensor,
                           grid: Tensor,
                           tau: float = 0.2,
                           impl: str = 'auto',
                           chunk_size: int = 64) -> Tensor:
    """Local contrastive (LC) loss of Islam et al., Eq. 2-4.

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
            ``'lean'`` never stores it (chunks of ``chunk_size`` target cells, recomputed in the
            backward pass); ``'auto'`` picks ``'lean'`` above :data:`LEAN_THRESHOLD` cell pairs.
            Both give the same value and gradients. Defaults to ``'auto'``.
        chunk_size (int): Target cells per chunk of the lean path. Defaults to 64.

    Returns:
        Tensor: scalar fp32 loss; per image the mean NLL over its valid pairs, then the mean over
        images with at least one valid pair (0, still in the graph, if there is none).
    """
    check_lc_options(tau, impl, chunk_size)
    _check_inputs(target, online, grid)
    _, _, ht, wt = target.shape
    _, _, ho, wo = online.shape
    valid, points = valid_and_safe_grid(grid)  # (B, Nt), (B, Nt, 2)
    target_flat = target.float().flatten(2)  # (B, C, Nt), a view when the input is fp32
    online_flat = online.float().flatten(2)  # (B, C, No)
    if impl == 'lean' or (impl == 'auto' and ht * wt * ho * wo > LEAN_THRESHOLD):
        nll_at_points = _pair_nll_lean(target_flat, online_flat, points, float(tau), ho, wo, chunk_size)
    else:
        nll_at_points = _pair_nll_naive(F.normalize(target_flat, dim=1), F.normalize(online_flat, dim=1), points,
                                        float(tau), ho, wo)
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

# Copyright (c) mmlc contributors. All rights reserved.
"""Local losses between dense features of two views with known correspondence.

Pure tensor functions (no registry, no config, no distributed calls); the registered
:class:`~mmlc.models.heads.LCLossHead` holds the hyper-parameters and calls them.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


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


def local_contrastive_loss(target: Tensor, online: Tensor, grid: Tensor, tau: float = 0.2) -> Tensor:
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

    Returns:
        Tensor: scalar fp32 loss; per image the mean NLL over its valid pairs, then the mean over
        images with at least one valid pair (0, still in the graph, if there is none).
    """
    if not tau > 0:
        raise ValueError(f'tau must be > 0, got {tau}')
    _check_inputs(target, online, grid)
    b, c, ho, wo = online.shape
    valid, points = valid_and_safe_grid(grid)  # (B, Nt), (B, Nt, 2)
    target_n = F.normalize(target.float().flatten(2), dim=1)  # (B, C, Nt)
    online_n = F.normalize(online.float().flatten(2), dim=1)  # (B, C, No)
    logits = torch.einsum('bcn,bcm->bnm', target_n, online_n) / tau  # (B, Nt, No)  Eq. 2 / tau
    nll = -F.log_softmax(logits, dim=-1)  # (B, Nt, No)  Eq. 3 at every online cell
    nll_at_points = sample_bilinear(nll.reshape(b, -1, ho, wo), points)  # (B, Nt)
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

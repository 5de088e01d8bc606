# Copyright (c) mmlc contributors. All rights reserved.
"""Dense matching between two views and the two ground-truth rules of the correspondence analysis.

Cells are indexed row-major: cell (y, x) of an (h, w) map has flat index ``y * w + x``.
"""

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def cosine_similarity_maps(feat1: Tensor, feat2: Tensor) -> Tensor:
    """Cosine similarity of every cell of view 1 with every cell of view 2.

    Args:
        feat1 (Tensor): (B, C, h1, w1) features of view 1.
        feat2 (Tensor): (B, C, h2, w2) features of view 2.

    Returns:
        Tensor: (B, h1*w1, h2*w2) similarities; a zero feature vector has similarity 0 with everything.
    """
    f1 = F.normalize(feat1.flatten(2), dim=1)  # (B, C, h1*w1)
    f2 = F.normalize(feat2.flatten(2), dim=1)  # (B, C, h2*w2)
    return torch.einsum('bci,bcj->bij', f1, f2)  # (B, h1*w1, h2*w2)


def best_match(feat1: Tensor, feat2: Tensor) -> Tensor:
    """For each cell of view 1, the most similar cell of view 2 (cosine similarity).

    Ties go to the lowest flat index (``torch.argmax`` returns the first maximum), so a constant
    feature matches every cell to cell 0.

    Args:
        feat1 (Tensor): (B, C, h1, w1).
        feat2 (Tensor): (B, C, h2, w2).

    Returns:
        Tensor: (B, h1*w1) long flat indices into view 2's map.
    """
    return cosine_similarity_maps(feat1, feat2).argmax(dim=-1)


def mirrored_cell_index(h: int, w: int) -> Tensor:
    """Ground truth of the flip test: cell (y, x) corresponds to (y, w - 1 - x) of the flipped view.

    Flipping the image maps the centre ``(x + 0.5) * W / w`` of column x to
    ``W - (x + 0.5) * W / w = (w - 1 - x + 0.5) * W / w``, the centre of column ``w - 1 - x``. For an
    odd width the middle column maps onto itself.

    Args:
        h (int): Feature-map height.
        w (int): Feature-map width.

    Returns:
        Tensor: (h*w,) long flat index of the corresponding cell.
    """
    ys = torch.arange(h)[:, None].expand(h, w)  # (h, w)
    xs = torch.arange(w)[None, :].expand(h, w)  # (h, w)
    return (ys * w + (w - 1 - xs)).reshape(-1)  # (h*w,)


def containing_cell_index(grid: Tensor, feat_size: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """Ground truth of the crop test: the view-2 cell that contains each corresponding point.

    Args:
        grid (Tensor): (B, h1, w1, 2) points (x, y) in view 2 in ``grid_sample`` coordinates
            (``align_corners=False``: -1 and +1 are the outer edges), from
            :func:`mmlc.models.utils.correspondence_grid`.
        feat_size (Sequence[int]): (h2, w2) of view 2's feature map, whose cell (i, j) covers
            ``[-1 + 2 j / w2, -1 + 2 (j + 1) / w2)`` in x and likewise in y.

    Returns:
        tuple[Tensor, Tensor]: (B, h1*w1) long flat index (0 where invalid) and (B, h1*w1) bool,
        True where the point lies inside view 2.
    """
    h2, w2 = int(feat_size[0]), int(feat_size[1])
    gx, gy = grid[..., 0].flatten(1), grid[..., 1].flatten(1)  # each (B, h1*w1)
    valid = (gx >= -1) & (gx <= 1) & (gy >= -1) & (gy <= 1)
    col = torch.floor((gx + 1) / 2 * w2).long().clamp(0, w2 - 1)  # the right edge belongs to the last cell
    row = torch.floor((gy + 1) / 2 * h2).long().clamp(0, h2 - 1)
    index = torch.where(valid, row * w2 + col, torch.zeros_like(col))
    return index, valid


def match_accuracy(pred: Tensor, target: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor]:
    """Per-image fraction of valid cells whose prediction is the target cell.

    Args:
        pred (Tensor): (B, N) predicted flat indices.
        target (Tensor): (B, N) or (N,) true flat indices.
        valid (Tensor): (B, N) or (N,) bool, cells that have a correspondence.

    Returns:
        tuple[Tensor, Tensor]: (B,) float64 accuracy (NaN for an image without valid cells) and (B,) long
        number of valid cells.
    """
    target = target.expand_as(pred)
    valid = valid.expand_as(pred)
    correct = ((pred == target) & valid).sum(dim=1)  # (B,)
    counts = valid.sum(dim=1)  # (B,)
    acc = correct.double() / counts.double()  # NaN where counts == 0
    return acc, counts

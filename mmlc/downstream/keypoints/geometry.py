# Copyright (c) mmlc contributors. All rights reserved.
"""Keypoint R-CNN maths as pure functions (detectron2's ``keypoint_head.py`` conventions).

Coordinates are continuous pixels: pixel ``k`` covers ``[k, k + 1)``. COCO stores integer pixel indices,
so :func:`coco_to_continuous` adds 0.5 on the way in and the metric subtracts it on the way out.
"""

from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def coco_to_continuous(keypoints: np.ndarray) -> np.ndarray:
    """COCO ``[x, y, v]`` triplets to continuous coordinates; invisible (v = 0) points become (0, 0, 0).

    Args:
        keypoints (np.ndarray): (N, K, 3) COCO keypoints.

    Returns:
        np.ndarray: (N, K, 3) float32, x and y + 0.5 where v > 0.
    """
    out = np.asarray(keypoints, dtype=np.float32).reshape(-1, keypoints.shape[-2], 3).copy()
    vis = out[..., 2] > 0  # (N, K)
    out[..., :2] = np.where(vis[..., None], out[..., :2] + 0.5, 0)
    out[..., 2] = np.where(vis, out[..., 2], 0)
    return out


def transform_keypoints(keypoints: np.ndarray, scale_factor: Tuple[float, float], flip: bool, img_w: float,
                        flip_indices: Sequence[int]) -> np.ndarray:
    """Apply a resize (then a horizontal flip) to keypoints, as mmdet's Resize/RandomFlip do to boxes.

    A flip mirrors x to ``img_w - x`` (mmdet's box convention) and swaps left/right keypoints: output
    keypoint ``k`` is input keypoint ``flip_indices[k]``.

    Args:
        keypoints (np.ndarray): (N, K, 3) continuous ``[x, y, v]``.
        scale_factor (tuple[float, float]): (w_scale, h_scale) of the resize.
        flip (bool): Whether the image was flipped horizontally after the resize.
        img_w (float): Width of the flipped (i.e. resized) image.
        flip_indices (Sequence[int]): Length-K permutation for the flip.

    Returns:
        np.ndarray: (N, K, 3) float32; invisible points stay (0, 0, 0).
    """
    out = np.asarray(keypoints, dtype=np.float32).copy()
    vis = out[..., 2] > 0  # (N, K)
    out[..., 0] *= scale_factor[0]
    out[..., 1] *= scale_factor[1]
    if flip:
        out[..., 0] = img_w - out[..., 0]
        out = out[:, list(flip_indices)]
        vis = vis[:, list(flip_indices)]
    out[~vis] = 0
    return out


def keypoint_heatmap_targets(keypoints: Tensor, rois: Tensor, size: int) -> Tuple[Tensor, Tensor]:
    """Flat heatmap index of each keypoint inside its RoI, and whether it is a training target.

    The RoI is cut into ``size x size`` cells; a keypoint falls in cell ``floor((x - x1) * size / w)``
    (a point exactly on the right/bottom edge goes to the last cell). Targets are the visible keypoints
    inside their RoI.

    Args:
        keypoints (Tensor): (R, K, 3) continuous ``[x, y, v]`` of each RoI's ground-truth instance.
        rois (Tensor): (R, 4) RoIs ``[x1, y1, x2, y2]``.
        size (int): Heatmap side S.

    Returns:
        tuple[Tensor, Tensor]: (R, K) long index ``y_cell * S + x_cell`` (0 where invalid) and
        (R, K) bool validity.
    """
    x1, y1, x2, y2 = (rois[:, i, None] for i in range(4))  # each (R, 1)
    x, y = keypoints[..., 0], keypoints[..., 1]  # (R, K)
    xi = ((x - x1) * (size / (x2 - x1))).floor().long()
    yi = ((y - y1) * (size / (y2 - y1))).floor().long()
    xi[x == x2.expand_as(x)] = size - 1
    yi[y == y2.expand_as(y)] = size - 1
    valid = (xi >= 0) & (yi >= 0) & (xi < size) & (yi < size) & (keypoints[..., 2] > 0)
    return torch.where(valid, yi * size + xi, torch.zeros_like(xi)), valid


def keypoint_loss(logits: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
    """Mean over valid keypoints of the cross-entropy of a spatial softmax (detectron2's keypoint loss).

    Args:
        logits (Tensor): (R, K, S, S) heatmap logits.
        targets (Tensor): (R, K) flat indices from :func:`keypoint_heatmap_targets`.
        valid (Tensor): (R, K) bool.

    Returns:
        Tensor: Scalar; 0 (still attached to ``logits``) when nothing is valid.
    """
    if not bool(valid.any()):
        return logits.sum() * 0
    flat = logits.flatten(2)[valid]  # (V, S*S)
    return F.cross_entropy(flat, targets[valid], reduction='mean')


def heatmaps_to_keypoints(logits: Tensor, rois: Tensor) -> Tensor:
    """Keypoint positions and scores from heatmap logits (detectron2's ``heatmaps_to_keypoints``).

    Each RoI's (K, S, S) map is resized bicubically to the RoI's size in pixels (rounded up); the
    argmax cell's centre, mapped back into the RoI, is the keypoint; its score is the softmax
    probability there (normalised over the S x S map).

    Args:
        logits (Tensor): (R, K, S, S) heatmap logits.
        rois (Tensor): (R, 4) RoIs ``[x1, y1, x2, y2]`` in the same frame as the output.

    Returns:
        Tensor: (R, K, 3) ``[x, y, score]``, fp32.
    """
    logits = logits.float()
    R, K = logits.shape[:2]
    out = logits.new_zeros((R, K, 3))
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)  # (R,)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    for i in range(R):
        h, w = int(heights[i].ceil()), int(widths[i].ceil())
        roi_map = F.interpolate(logits[i:i + 1], size=(h, w), mode='bicubic', align_corners=False)[0]  # (K, h, w)
        peak = roi_map.flatten(1).max(1).values[:, None, None]  # (K, 1, 1)
        probs = (roi_map - peak).exp() / (logits[i] - peak).exp().sum((1, 2), keepdim=True)  # (K, h, w)
        pos = roi_map.flatten(1).argmax(1)  # (K,)
        yi, xi = pos // w, pos % w
        out[i, :, 0] = (xi.float() + 0.5) * (widths[i] / w) + rois[i, 0]
        out[i, :, 1] = (yi.float() + 0.5) * (heights[i] / h) + rois[i, 1]
        out[i, :, 2] = probs[torch.arange(K), yi, xi]
    return out

# Copyright (c) mmlc contributors. All rights reserved.
"""Pixel correspondence between the colour-only view I_c and the cropped view I_sc.

Pure geometry on numbers: no images, no randomness. Coordinates are continuous pixel coordinates
in which pixel ``k`` covers ``[k, k + 1)``, so an image of width ``W`` spans ``[0, W]``.
"""

from typing import Sequence, Tuple, Union

import torch
from torch import Tensor


def cell_centres(feat_size: Tuple[int, int], ori_shape: Tensor) -> Tensor:
    """Original-image coordinates of the centres of an (h, w) grid laid over the whole image.

    I_c is the whole image resized (no crop), so cell (i, j) of its (h, w) feature map is centred at
    ``((j + 0.5) * W / w, (i + 0.5) * H / h)`` of the original image.

    Args:
        feat_size (tuple[int, int]): (h, w) of the I_c feature map.
        ori_shape (Tensor): (B, 2) original (H, W) of each image.

    Returns:
        Tensor: (B, h, w, 2) points (X, Y) in original-image pixels, fp32.
    """
    h, w = feat_size
    ori_shape = ori_shape.float()
    jj = (torch.arange(w, dtype=torch.float32, device=ori_shape.device) + 0.5) / w  # (w,)
    ii = (torch.arange(h, dtype=torch.float32, device=ori_shape.device) + 0.5) / h  # (h,)
    xs = jj[None, None, :] * ori_shape[:, 1, None, None]  # (B, 1, w)
    ys = ii[None, :, None] * ori_shape[:, 0, None, None]  # (B, h, 1)
    return torch.stack(torch.broadcast_tensors(xs, ys), dim=-1)  # (B, h, w, 2)


def _check_records(sc_box: Tensor, sc_flip: Tensor, ori_shape: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Validate the transform's records and return them as fp32 boxes, bool flips, fp32 shapes."""
    sc_box = torch.as_tensor(sc_box, dtype=torch.float32)
    if sc_box.dim() != 2 or sc_box.shape[1] != 4:
        raise ValueError(f'sc_box must be (B, 4), got {tuple(sc_box.shape)}')
    x0, y0, x1, y1 = sc_box.unbind(dim=1)
    if bool(((x1 <= x0) | (y1 <= y0)).any()):
        raise ValueError(f'sc_box must have x1 > x0 and y1 > y0, got {sc_box.tolist()}')
    sc_flip = torch.as_tensor(sc_flip, device=sc_box.device).bool().reshape(-1)
    ori_shape = torch.as_tensor(ori_shape, device=sc_box.device).float().reshape(-1, 2)
    if not (sc_flip.shape[0] == ori_shape.shape[0] == sc_box.shape[0]):
        raise ValueError(f'sc_box, sc_flip and ori_shape disagree on the batch size: {sc_box.shape[0]}, '
                         f'{sc_flip.shape[0]}, {ori_shape.shape[0]}')
    return sc_box, sc_flip, ori_shape


def correspondence_grid(sc_box: Tensor, sc_flip: Tensor, ori_shape: Tensor, feat_size: Union[Sequence[int],
                                                                                             torch.Size]) -> Tensor:
    """Where each I_c feature-cell centre lands in I_sc, in ``grid_sample`` coordinates.

    Args:
        sc_box (Tensor): (B, 4) I_sc's crop ``[x0, y0, x1, y1]`` in original-image pixels; the crop
            covers ``x0 <= x < x1`` and ``y0 <= y < y1`` and was resized to fill I_sc.
        sc_flip (Tensor): (B,) whether I_sc was mirrored horizontally after cropping.
        ori_shape (Tensor): (B, 2) original (H, W).
        feat_size (Sequence[int]): (h, w) of the I_c feature map.

    Returns:
        Tensor: (B, h, w, 2) points (x, y) in I_sc for ``F.grid_sample(..., align_corners=False)``:
        -1 and +1 are the outer edges of I_sc; a point outside ``[-1, 1]`` has no correspondence.
    """
    h, w = int(feat_size[0]), int(feat_size[1])
    sc_box, sc_flip, ori_shape = _check_records(sc_box, sc_flip, ori_shape)
    x0, y0, x1, y1 = sc_box.unbind(dim=1)  # each (B,)
    centres = cell_centres((h, w), ori_shape)  # (B, h, w, 2)
    # Normalise into the crop: crop edges -> -1 / +1.
    gx = 2 * (centres[..., 0] - x0[:, None, None]) / (x1 - x0)[:, None, None] - 1  # (B, h, w)
    gy = 2 * (centres[..., 1] - y0[:, None, None]) / (y1 - y0)[:, None, None] - 1  # (B, h, w)
    gx = torch.where(sc_flip[:, None, None], -gx, gx)  # a horizontal flip mirrors x about 0
    return torch.stack([gx, gy], dim=-1)  # (B, h, w, 2)


def inverse_correspondence_grid(sc_box: Tensor, sc_flip: Tensor, ori_shape: Tensor,
                                feat_size: Union[Sequence[int], torch.Size]) -> Tensor:
    """Where each I_sc feature-cell centre lands in I_c, in ``grid_sample`` coordinates.

    The inverse of :func:`correspondence_grid`, for the symmetric LC-loss (target branch on I_sc,
    online branch on I_c). Cell (i, j) of an (h, w) I_sc map is centred at ``((2j + 1) / w - 1,
    (2i + 1) / h - 1)`` of I_sc; undoing the flip and the crop gives the original-image point, and I_c
    is the whole image, so its coordinate is ``2 X / W - 1``. A crop inside the image therefore maps
    every I_sc cell inside I_c.

    Args:
        sc_box (Tensor): (B, 4) I_sc's crop ``[x0, y0, x1, y1]`` in original-image pixels.
        sc_flip (Tensor): (B,) whether I_sc was mirrored horizontally after cropping.
        ori_shape (Tensor): (B, 2) original (H, W).
        feat_size (Sequence[int]): (h, w) of the I_sc feature map.

    Returns:
        Tensor: (B, h, w, 2) points (x, y) in I_c, ``align_corners=False`` convention.
    """
    h, w = int(feat_size[0]), int(feat_size[1])
    sc_box, sc_flip, ori_shape = _check_records(sc_box, sc_flip, ori_shape)
    x0, y0, x1, y1 = sc_box.unbind(dim=1)  # each (B,)
    # The cell centres as offsets inside the crop, then in original pixels; a mirrored crop counts from x1.
    offsets = cell_centres((h, w), torch.stack([y1 - y0, x1 - x0], dim=1))  # (B, h, w, 2)
    xs = torch.where(sc_flip[:, None, None], x1[:, None, None] - offsets[..., 0], x0[:, None, None] + offsets[..., 0])
    ys = y0[:, None, None] + offsets[..., 1]  # (B, h, w)
    gx = 2 * xs / ori_shape[:, 1, None, None] - 1
    gy = 2 * ys / ori_shape[:, 0, None, None] - 1
    return torch.stack([gx, gy], dim=-1)  # (B, h, w, 2)

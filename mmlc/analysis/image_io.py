# Copyright (c) mmlc contributors. All rights reserved.
"""Reading images for the analyses: (H, W, 3) uint8 BGR arrays, mmcv's convention."""

import os
import os.path as osp
from typing import List, Optional

import mmcv
import numpy as np

from ..datasets.transforms.paired_correspondence import as_three_channel_uint8

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def list_images(root: str, max_images: Optional[int] = None) -> List[str]:
    """Image files under ``root`` (recursively), sorted, optionally the first ``max_images``.

    Args:
        root (str): A directory, or a single image file.
        max_images (int, optional): Keep at most this many. Defaults to None (all).

    Returns:
        list[str]: Paths.
    """
    if osp.isfile(root):
        return [root]
    if not osp.isdir(root):
        raise FileNotFoundError(f'no such directory: {root}')
    paths = sorted(
        osp.join(dirpath, name) for dirpath, _, names in os.walk(root, followlinks=True) for name in names
        if name.lower().endswith(IMG_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(f'no images ({", ".join(IMG_EXTENSIONS)}) under {root}')
    return paths if max_images is None else paths[:max_images]


def load_image(path: str) -> np.ndarray:
    """Decode one image to (H, W, 3) uint8 BGR (grey replicated, alpha dropped)."""
    img = mmcv.imread(path, flag='unchanged')
    if img is None:
        raise ValueError(f'cannot decode image {path}')
    return as_three_channel_uint8(img, path)


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Resize to (size, size, 3) with bicubic Pillow resampling, as I_c is made in training."""
    return mmcv.imresize(img, (size, size), interpolation='bicubic', backend='pillow')


def resize_centre_crop(img: np.ndarray, size: int, resize_ratio: float = 256 / 224) -> np.ndarray:
    """ImageNet evaluation preprocessing: shorter side to ``size * resize_ratio``, centre crop ``size``.

    Args:
        img (np.ndarray): (H, W, 3) uint8.
        size (int): Output side.
        resize_ratio (float): Shorter side before cropping, relative to ``size``. Defaults to 256/224.

    Returns:
        np.ndarray: (size, size, 3) uint8.
    """
    h, w = img.shape[:2]
    short = max(size, int(round(size * resize_ratio)))
    scale = short / min(h, w)
    new_w, new_h = max(size, int(round(w * scale))), max(size, int(round(h * scale)))
    img = mmcv.imresize(img, (new_w, new_h), interpolation='bicubic', backend='pillow')
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(img[top:top + size, left:left + size])

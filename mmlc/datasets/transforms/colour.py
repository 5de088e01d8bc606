# Copyright (c) mmlc contributors. All rights reserved.
"""Pillow's colour enhancements re-written on numpy arrays, equal to them pixel for pixel, and Pillow's Gaussian
blur on OpenCV filters, within 2 levels of it.

mmpretrain's ``ColorJitter`` (backend ``'pillow'``) calls mmcv's ``adjust_brightness/contrast/color/hue``, which
wrap ``PIL.ImageEnhance`` and Pillow's HSV conversion. Each call flips BGR to RGB, copies the array into a Pillow
image and back, and the HSV round trip alone takes ~3 ms on a 224 px view: about a fifth of a BYOL data worker's
time. The functions here compute the same uint8 results (the same float32/float64 arithmetic and truncation as
Pillow's C code, ``Blend.c`` and ``Convert.c``) straight on the BGR array, with look-up tables where the result
depends on one channel value only. ``tests/test_datasets/test_colour.py`` checks them against mmcv's functions on
every RGB colour (the suite tests a sixteenth of them).

Pillow's ``GaussianBlur`` is three passes of an "extended" box filter per axis (``BoxBlur.c``), each rounded to
uint8 in 24-bit fixed point; :func:`gaussian_blur` runs the same six passes as ``cv2.filter2D`` calls with the same
fixed-point weights, rounding in float32, which moves a few pixels by one or two levels.

All images are (H, W, 3) uint8 in BGR order, as mmcv decodes them.
"""

import math
from typing import Dict

import cv2
import numpy as np
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur
from mmpretrain.registry import TRANSFORMS

# Pillow's "L" conversion, ITU-R 601-2 luma in 16-bit fixed point (Convert.c: L24).
_LUMA_R, _LUMA_G, _LUMA_B = 19595, 38470, 7471


def pil_luma(img: np.ndarray) -> np.ndarray:
    """Pillow's ``convert('L')`` of a BGR image: (H, W, 3) uint8 -> (H, W) uint8."""
    b, g, r = (img[..., k].astype(np.uint32) for k in range(3))
    return ((r * _LUMA_R + g * _LUMA_G + b * _LUMA_B + 0x8000) >> 16).astype(np.uint8)


def pil_blend(degenerate: np.ndarray, img: np.ndarray, alpha: float) -> np.ndarray:
    """``Image.blend(degenerate, img, alpha)``: ``degenerate + alpha * (img - degenerate)`` in float32,
    truncated towards zero and clipped to [0, 255] (Pillow's ``Blend.c``). Arrays broadcast; returns uint8."""
    a = np.float32(alpha)
    low = np.asarray(degenerate, dtype=np.float32)
    out = low + a * (np.asarray(img, dtype=np.float32) - low)
    return np.clip(np.trunc(out), 0, 255).astype(np.uint8)


_LEVELS = np.arange(256, dtype=np.uint8)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Brightness(img).enhance(factor)``: a blend with black, one look-up per channel value."""
    return cv2.LUT(img, pil_blend(np.uint8(0), _LEVELS, factor))


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Contrast(img).enhance(factor)``: a blend with the rounded mean luma."""
    mean = int(pil_luma(img).mean(dtype=np.float64) + 0.5)
    return cv2.LUT(img, pil_blend(np.uint8(mean), _LEVELS, factor))


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Color(img).enhance(factor)``: a blend with the image's own luma."""
    return pil_blend(pil_luma(img)[..., None], img, factor)


def _f32(x: np.ndarray) -> np.ndarray:
    """Round float64 values to float32, where Pillow's C code stores into a ``float``."""
    return x.astype(np.float32).astype(np.float64)


def rgb_to_pil_hsv(r: np.ndarray, g: np.ndarray, b: np.ndarray):
    """Pillow's RGB -> HSV (``Convert.c: rgb2hsv_row``) on uint8 channel arrays; returns uint8 (h, s, v)."""
    r, g, b = (c.astype(np.float64) for c in (r, g, b))
    maxc = np.maximum(r, np.maximum(g, b))
    minc = np.minimum(r, np.minimum(g, b))
    grey = maxc == minc
    cr = np.where(grey, 1., maxc - minc)
    s = _f32(cr / np.where(maxc == 0, 1., maxc))
    rc, gc, bc = (_f32((maxc - c) / cr) for c in (r, g, b))
    h = np.where(r == maxc, _f32(bc - gc), np.where(g == maxc, _f32(2. + rc - bc), _f32(4. + gc - rc)))
    h = _f32(np.fmod(h / 6. + 1., 1.))
    uh = np.where(grey, 0, np.clip(np.trunc(h * 255.), 0, 255)).astype(np.uint8)
    us = np.where(grey, 0, np.clip(np.trunc(s * 255.), 0, 255)).astype(np.uint8)
    return uh, us, maxc.astype(np.uint8)


def pil_hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray):
    """Pillow's HSV -> RGB (``Convert.c: hsv2rgb``) on uint8 channel arrays; returns uint8 (r, g, b)."""
    hf, sf, vf = (c.astype(np.float64) for c in (h, s, v))
    i = np.floor(_f32(hf) * 6. / 255.)
    f = _f32(_f32(hf) * 6. / 255. - i)
    fs = _f32(f * sf)

    def level(x: np.ndarray) -> np.ndarray:  # C's round() of a non-negative value, then CLIP8
        return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)

    p = level(vf * (1. - sf / 255.))
    q = level(vf * (1. - fs / 255.))
    t = level(vf * (1. - (1. - f) * sf / 255.))
    sector = i.astype(np.int64) % 6
    v = v.astype(np.uint8)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = []
    for channel in range(3):
        value = np.select([sector == k for k in range(6)], [c[channel] for c in choices])
        out.append(np.where(s == 0, v, value).astype(np.uint8))
    return tuple(out)


def _chunks(total: int, size: int = 1 << 20):
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


class _HueTables:
    """Whole-colour-space look-up tables for Pillow's HSV round trip (96 MiB, built once per process).

    ``hs[(r << 16) | (g << 8) | b]`` holds Pillow's 8-bit ``(h << 8) | s`` of every RGB colour and
    ``bgr[(h << 16) | (s << 8) | v]`` the packed colour (``b | g << 8 | r << 16``) Pillow converts every HSV triple
    back to, both computed by :func:`rgb_to_pil_hsv` and :func:`pil_hsv_to_rgb` in 1 Mi-entry chunks (a few
    seconds). A hue rotation is then two gathers per pixel instead of Pillow's two image conversions.
    :class:`FastColorJitter` builds them in its constructor, so that data workers forked from the main process
    share the pages instead of building their own.
    """

    def __init__(self) -> None:
        self.hs = np.empty(1 << 24, dtype=np.uint16)
        self.bgr = np.empty(1 << 24, dtype=np.uint32)
        for part in _chunks(1 << 24):
            code = np.arange(part.start, part.stop, dtype=np.uint32)
            hi, mid, lo = (((code >> shift) & 255).astype(np.uint8) for shift in (16, 8, 0))
            h, s, _ = rgb_to_pil_hsv(hi, mid, lo)  # code = r, g, b
            self.hs[part] = (h.astype(np.uint16) << 8) | s
            r, g, b = pil_hsv_to_rgb(hi, mid, lo)  # code = h, s, v
            self.bgr[part] = b.astype(np.uint32) | (g.astype(np.uint32) << 8) | (r.astype(np.uint32) << 16)


_TABLES = None


def _hue_tables() -> _HueTables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _HueTables()
    return _TABLES


def adjust_hue(img: np.ndarray, hue_factor: float) -> np.ndarray:
    """mmcv's ``adjust_hue(img, hue_factor, backend='pillow')``: rotate Pillow's 8-bit hue by
    ``int(hue_factor * 255) % 256`` steps, through :class:`_HueTables`."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor must be in [-0.5, 0.5], got {hue_factor}')
    tables = _hue_tables()
    flat = img.reshape(-1, 3)
    b, g, r = (flat[:, k].astype(np.uint32) for k in range(3))
    hs = tables.hs[(r << 16) | (g << 8) | b].astype(np.uint32)  # (N,): h << 8 | s
    shift = np.uint32(int(hue_factor * 255) % 256)
    hue = ((hs >> 8) + shift) & 255  # uint8 wrap-around on the hue circle
    value = np.maximum(np.maximum(r, g), b)
    packed = tables.bgr[(hue << 16) | ((hs & 255) << 8) | value]  # (N,) b | g << 8 | r << 16
    return packed.view(np.uint8).reshape(*img.shape[:2], 4)[..., :3].copy()  # little-endian bytes: b, g, r, 0


@TRANSFORMS.register_module()
class FastColorJitter(ColorJitter):
    """mmpretrain's ``ColorJitter`` (Pillow backend) with the same random parameters and the same output, computed
    by :mod:`mmlc.datasets.transforms.colour` without Pillow round trips.

    Parameter sampling is inherited unchanged (``_rand_params``: a random order of the four enhancements and
    their factors), so a seeded run draws exactly what mmpretrain's transform draws.

    Required Keys:

    - img: (H, W, 3) uint8 BGR

    Modified Keys:

    - img

    Args:
        **kwargs: As mmpretrain's ``ColorJitter``; ``backend`` must stay ``'pillow'`` (the semantics reproduced).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.backend != 'pillow':
            raise ValueError(f"FastColorJitter reproduces the 'pillow' backend, got backend={self.backend!r}")
        if self.hue is not None:
            _hue_tables()  # built here, before data workers fork, so that they share them

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
            raise ValueError(f'FastColorJitter expects an (H, W, 3) uint8 image, got '
                             f'{getattr(img, "shape", None)} {getattr(img, "dtype", type(img).__name__)}')
        order, brightness, contrast, saturation, hue = self._rand_params()
        for index in order:  # the same order and skips as mmpretrain's ColorJitter.transform
            if index == 0 and brightness is not None:
                img = adjust_brightness(img, brightness)
            elif index == 1 and contrast is not None:
                img = adjust_contrast(img, contrast)
            elif index == 2 and saturation is not None:
                img = adjust_saturation(img, saturation)
            elif index == 3 and hue is not None:
                img = adjust_hue(img, hue)
        results['img'] = img
        return results


def box_blur_radius(sigma: float, passes: int = 3) -> float:
    """Pillow's extended-box radius whose ``passes`` passes approximate a Gaussian of std ``sigma`` (Gwosdek et al.,
    SSVM 2011; ``BoxBlur.c: _gaussian_blur_radius``, float32 like Pillow)."""
    sigma2 = float(np.float32(np.float32(sigma) * np.float32(sigma) / passes))
    length = math.sqrt(12. * sigma2 + 1.)
    whole = math.floor((length - 1.) / 2.)
    frac = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2)
    frac /= 6 * (sigma2 - (whole + 1) * (whole + 1))
    return float(np.float32(whole + frac))


def box_blur_kernel(radius: float) -> np.ndarray:
    """The 1-D kernel of one Pillow box-blur pass of fractional ``radius``: ``2 r + 1`` taps of weight ``ww`` and
    one of weight ``fw`` at each end, in Pillow's 24-bit fixed point.

    Returns (2 * int(radius) + 3,) float32.
    """
    whole = int(radius)
    ww = int(np.float32(1 << 24) / (np.float32(radius) * 2 + 1))
    fw = ((1 << 24) - (whole * 2 + 1) * ww) // 2
    kernel = np.full(2 * whole + 3, ww, dtype=np.float64)
    kernel[0] = kernel[-1] = fw
    return (kernel / (1 << 24)).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma: float, passes: int = 3) -> np.ndarray:
    """``Image.filter(ImageFilter.GaussianBlur(radius=sigma))`` of an (H, W, C) uint8 image within 2 levels: the same
    box passes (horizontal, then vertical) with edge pixels repeated, as ``cv2.filter2D``."""
    if sigma == 0:
        return img.copy()
    kernel = box_blur_kernel(box_blur_radius(sigma, passes))
    for shape in ((1, -1), (-1, 1)):
        for _ in range(passes):
            img = cv2.filter2D(img, -1, kernel.reshape(shape), borderType=cv2.BORDER_REPLICATE)
    return img


@TRANSFORMS.register_module()
class FastGaussianBlur(GaussianBlur):
    """mmpretrain's ``GaussianBlur`` with the same random draws, computed by :func:`gaussian_blur` (within 2 levels
    of Pillow's result, a fraction of its time).

    Required Keys:

    - img: (H, W, C) uint8

    Modified Keys:

    - img

    Args:
        **kwargs: As mmpretrain's ``GaussianBlur``.
    """

    def transform(self, results: Dict) -> Dict:
        if self.random_disable():
            return results
        sigma = self.radius if self.radius is not None else self.random_magnitude()
        img = results['img']
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8):
            raise ValueError(f'FastGaussianBlur expects a uint8 image, got {getattr(img, "dtype", type(img))}')
        results['img'] = gaussian_blur(img, sigma)
        return results

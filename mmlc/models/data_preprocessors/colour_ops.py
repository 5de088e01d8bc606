# Copyright (c) mmlc contributors. All rights reserved.
"""Batched colour operations that reproduce the CPU pipeline's Pillow / mmcv arithmetic on (B, 3, H, W) tensors.

Every function takes a float batch holding integer values in [0, 255] (a uint8 batch cast to float) with one
parameter per sample, and returns the same kind of batch, rounded where and as the CPU transform rounds its uint8
result: brightness, contrast and saturation as Pillow's ``Image.blend`` (float32 arithmetic, truncated), hue through
Pillow's 8-bit HSV, grey as mmcv's ``RandomGrayscale`` (float64 weighted sum, truncated), blur as Pillow's
``GaussianBlur`` (three extended box blurs per axis in 8.24 fixed point), solarisation as ``mmcv.solarize``.

Rounding between operations (rather than keeping floats through the chain) is deliberate: it makes a batch equal
the CPU transforms' images for the same parameters, so the preprocessor option changes where colour augmentation
runs, not what it produces, and a run with it stays comparable with the BYOL baseline's CPU pipeline. It costs a
few elementwise operations per op. Where the C code computes in double, so do these functions (float32 on Apple's
MPS, which has no float64).
"""

from typing import Sequence, Tuple

import torch
from torch import Tensor

_ORDERS = ('bgr', 'rgb')
# Pillow's hsv2rgb: which of (v, p, q, t) = (0, 1, 2, 3) R, G and B take in hue sectors 0..5
# (R: v q p p t v, G: t v v q p p, B: p p t v v q).
_HSV_SECTORS = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]])


def _double(x: Tensor) -> torch.dtype:
    """The dtype standing in for C's double on ``x``'s device."""
    return torch.float32 if x.device.type == 'mps' else torch.float64


def _check(x: Tensor, *factors: Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f'expected a (B, 3, H, W) batch, got shape {tuple(x.shape)}')
    for factor in factors:
        if factor.shape != (x.shape[0], ):
            raise ValueError(f'expected one parameter per sample, shape ({x.shape[0]},), got {tuple(factor.shape)}')


def _per_sample(factor: Tensor, x: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B,) parameters as (B, 1, 1, 1) on ``x``'s device."""
    return factor.to(device=x.device, dtype=dtype).view(-1, 1, 1, 1)


def rgb_channels(x: Tensor, channel_order: str) -> Tuple[Tensor, Tensor, Tensor]:
    """The red, green and blue planes of ``x``, each (B, 1, H, W), for ``channel_order`` 'bgr' or 'rgb'."""
    if channel_order not in _ORDERS:
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    r, g, b = (0, 1, 2) if channel_order == 'rgb' else (2, 1, 0)
    return x[:, r:r + 1], x[:, g:g + 1], x[:, b:b + 1]


def pillow_luma(x: Tensor, channel_order: str = 'bgr') -> Tensor:
    """Pillow's RGB -> 'L' conversion: ``(19595 R + 38470 G + 7471 B + 2**15) >> 16``.

    Args:
        x (Tensor): (B, 3, H, W) integer values in [0, 255].
        channel_order (str): 'bgr' or 'rgb'. Defaults to 'bgr'.

    Returns:
        Tensor: (B, 1, H, W) grey levels, integer valued, in x's dtype. Exact in float32: every partial sum
        stays below 2**24.
    """
    r, g, b = rgb_channels(x, channel_order)
    return torch.floor((r * 19595 + g * 38470 + b * 7471 + 32768) / 65536)


def _blend(degenerate: Tensor, x: Tensor, factor: Tensor) -> Tensor:
    """Pillow's ``Image.blend(degenerate, x, factor)`` on uint8 images: ``degenerate + factor * (x - degenerate)``
    in float32, clipped to [0, 255] and truncated."""
    out = degenerate + _per_sample(factor, x) * (x - degenerate)
    return out.clamp_(0, 255).floor_()


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    """``mmcv.adjust_brightness(img, factor, backend='pillow')`` per sample (Pillow's ``ImageEnhance.Brightness``).

    Args:
        x (Tensor): (B, 3, H, W) integer values in [0, 255], float.
        factor (Tensor): (B,) brightness factors (1 keeps the image).

    Returns:
        Tensor: (B, 3, H, W), integer valued.
    """
    _check(x, factor)
    return _blend(torch.zeros_like(x), x, factor)


def adjust_contrast(x: Tensor, factor: Tensor, channel_order: str = 'bgr') -> Tensor:
    """``mmcv.adjust_contrast(img, factor, backend='pillow')`` per sample: a blend with the image's mean grey level
    (Pillow's 'L', its mean rounded half up).

    Args:
        x (Tensor): (B, 3, H, W) integer values in [0, 255], float.
        factor (Tensor): (B,) contrast factors (1 keeps the image).
        channel_order (str): 'bgr' or 'rgb'. Defaults to 'bgr'.

    Returns:
        Tensor: (B, 3, H, W), integer valued.
    """
    _check(x, factor)
    luma = pillow_luma(x, channel_order)  # (B, 1, H, W)
    total, count = luma.long().sum(dim=(1, 2, 3)), luma[0].numel()  # (B,) exact integer sums
    mean = torch.div(2 * total + count, 2 * count, rounding_mode='floor')  # int(total / count + 0.5)
    return _blend(_per_sample(mean, x, x.dtype).expand_as(x), x, factor)


def adjust_saturation(x: Tensor, factor: Tensor, channel_order: str = 'bgr') -> Tensor:
    """``mmcv.adjust_color(img, alpha=factor, backend='pillow')`` per sample: a blend with the pixel's grey level.

    Args:
        x (Tensor): (B, 3, H, W) integer values in [0, 255], float.
        factor (Tensor): (B,) saturation factors (1 keeps the image, 0 gives grey).
        channel_order (str): 'bgr' or 'rgb'. Defaults to 'bgr'.

    Returns:
        Tensor: (B, 3, H, W), integer valued.
    """
    _check(x, factor)
    return _blend(pillow_luma(x, channel_order).expand_as(x), x, factor)


def adjust_hue(x: Tensor, factor: Tensor, channel_order: str = 'bgr') -> Tensor:
    """``mmcv.adjust_hue(img, factor, backend='pillow')`` per sample: Pillow's RGB -> HSV with 8-bit channels, the
    hue channel shifted by ``int(factor * 255) % 256`` (modulo 256), then HSV -> RGB.

    Pillow's conversions are reproduced step by step (float and double where its C code uses them), including the
    8-bit quantisation of hue and saturation, so a zero factor is not an identity, exactly as on the CPU.

    Args:
        x (Tensor): (B, 3, H, W) integer values in [0, 255], float.
        factor (Tensor): (B,) hue shifts in [-0.5, 0.5] (fractions of the hue circle).
        channel_order (str): 'bgr' or 'rgb'. Defaults to 'bgr'.

    Returns:
        Tensor: (B, 3, H, W) in ``channel_order``, integer valued.
    """
    _check(x, factor)
    if bool((factor.abs() > 0.5).any()):
        raise ValueError('hue factors must lie in [-0.5, 0.5]')
    f64 = _double(x)
    r, g, b = (c.float() for c in rgb_channels(x, channel_order))  # (B, 1, H, W) each
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    grey = maxc == minc
    cr = torch.where(grey, torch.ones_like(maxc), maxc - minc)  # avoids 0/0 where the result is unused
    sat = cr / torch.where(grey, torch.ones_like(maxc), maxc)
    rc, gc, bc = (maxc - r) / cr, (maxc - g) / cr, (maxc - b) / cr
    hue = torch.where(
        r == maxc, bc - gc,
        torch.where(g == maxc, (2.0 + rc.to(f64) - bc.to(f64)).float(), (4.0 + gc.to(f64) - rc.to(f64)).float()))
    hue = torch.fmod(hue.to(f64) / 6.0 + 1.0, 1.0)
    h8 = torch.where(grey, 0, torch.trunc(hue.float().to(f64) * 255.0).clamp(0, 255))
    s8 = torch.where(grey, 0, torch.trunc(sat.to(f64) * 255.0).clamp(0, 255))
    shift = torch.remainder(torch.trunc(_per_sample(factor, x, f64) * 255), 256)
    h8 = torch.remainder(h8 + shift, 256)  # uint8 wrap-around
    # HSV -> RGB (Pillow's hsv2rgb): sector i, remainder f, then p, q, t rounded half up.
    v = maxc.to(f64)
    sector = torch.floor(h8 * 6.0 / 255.0)
    frac = (h8 * 6.0 / 255.0 - sector).float()
    fs = (frac * s8.float()).to(f64)
    p = torch.floor(v * (255.0 - s8) / 255.0 + 0.5).clamp(0, 255)
    q = torch.floor(v * (255.0 - fs) / 255.0 + 0.5).clamp(0, 255)
    t = torch.floor(v * (255.0 - s8 + fs) / 255.0 + 0.5).clamp(0, 255)
    candidates = torch.stack([v, p, q, t])  # (4, B, 1, H, W)
    index = _HSV_SECTORS.to(x.device)[:, torch.remainder(sector, 6).long()]  # (3, B, 1, H, W): R, G, B
    rgb = torch.gather(candidates, 0, index)  # (3, B, 1, H, W)
    rgb = torch.where(s8 == 0, v, rgb)  # Pillow returns (v, v, v) when the 8-bit saturation is 0
    out = torch.cat(list(rgb), dim=1)  # (B, 3, H, W) as R, G, B
    if channel_order == 'bgr':
        out = out.flip(1)
    return out.to(x.dtype)


def rgb_to_grey(x: Tensor, channel_weights: Sequence[float] = (0.114, 0.587, 0.2989)) -> Tensor:
    """mmcv's ``RandomGrayscale`` when it fires with ``keep_channels=True``: the weighted sum of the channels with
    weights normalised to sum 1, in float64, truncated, replicated over 3 channels.

    Args:
        x (Tensor): (B, 3, H, W) integer values in [0, 255], float.
        channel_weights (Sequence[float]): Weights of x's channels in x's order (mmcv's BYOL setting
            (0.114, 0.587, 0.2989) is for BGR). Defaults to (0.114, 0.587, 0.2989).

    Returns:
        Tensor: (B, 3, H, W), three equal integer-valued channels.
    """
    _check(x)
    if len(channel_weights) != 3:
        raise ValueError(f'channel_weights needs 3 weights, got {channel_weights!r}')
    total = float(sum(channel_weights))
    w = [float(c) / total for c in channel_weights]  # normalised in double, as numpy does
    c = x.to(_double(x))
    grey = torch.trunc((c[:, 0:1] * w[0] + c[:, 1:2] * w[1]) + c[:, 2:3] * w[2])  # numpy's summation order
    return grey.to(x.dtype).expand_as(x).contiguous()


def solarize(x: Tensor, threshold: Tensor) -> Tensor:
    """``mmcv.solarize``: values at or above the sample's threshold become ``255 - value``.

    Args:
        x (Tensor): (B, 3, H, W) values in [0, 255].
        threshold (Tensor): (B,) thresholds.

    Returns:
        Tensor: (B, 3, H, W).
    """
    _check(x, threshold)
    return torch.where(x < _per_sample(threshold, x, x.dtype), x, 255 - x)


def pillow_box_radius(sigma: Tensor, passes: int = 3) -> Tensor:
    """Pillow's extended-box radius for a Gaussian of standard deviation ``sigma`` blurred in ``passes`` box passes
    (Gwosdek et al., SSVM 2011), computed in float32 as Pillow does.

    Args:
        sigma (Tensor): (B,) standard deviations (``ImageFilter.GaussianBlur``'s ``radius``).
        passes (int): Box passes per axis. Defaults to 3 (Pillow's).

    Returns:
        Tensor: (B,) float32 box radii (integer part: whole pixels; fraction: weight of the two next pixels).
    """
    sigma = sigma.float()
    sigma2 = sigma * sigma / passes
    f64 = _double(sigma)
    length = torch.sqrt(12.0 * sigma2.to(f64) + 1.0).float()  # box length
    whole = torch.floor((length.to(f64) - 1.0) / 2.0).float()
    frac = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2)
    frac = frac / (6 * (sigma2 - (whole + 1) * (whole + 1)))
    return whole + frac


def _box_blur_pass(x: Tensor, whole: int, ww: Tensor, fw: Tensor, dim: int) -> Tensor:
    """One pass of Pillow's extended box blur along ``dim`` of an int64 batch: ``(ww * window + fw * (two next
    pixels) + 2**23) >> 24`` with the edge pixels repeated.

    ``ww``/``fw``: (b, 1, 1, 1) fixed-point weights.
    """
    size = x.shape[dim]
    index = torch.arange(-whole - 1, size + whole + 1, device=x.device).clamp_(0, size - 1)
    padded = x.index_select(dim, index)  # edge pixels repeated whole + 1 times
    window = padded.narrow(dim, 1, size).clone()
    for k in range(1, 2 * whole + 1):
        window += padded.narrow(dim, 1 + k, size)
    far = padded.narrow(dim, 0, size) + padded.narrow(dim, 2 * whole + 2, size)
    window *= ww
    far *= fw
    window += far
    window += 1 << 23
    window >>= 24
    return window


def gaussian_blur(x: Tensor, sigma: Tensor) -> Tensor:
    """mmpretrain's ``GaussianBlur`` (Pillow's ``ImageFilter.GaussianBlur(radius=sigma)``) per sample.

    Pillow approximates the Gaussian with three extended box blurs along x, then three along y, each rounded to
    8 bits; edge pixels are repeated. This function runs the same passes in the same 8.24 fixed-point arithmetic
    (int64), one group of samples per whole-pixel box radius. A sigma of 0 keeps the image.

    Args:
        x (Tensor): (B, 3, H, W) integer values in [0, 255], float.
        sigma (Tensor): (B,) standard deviations in pixels, >= 0. On the CPU it costs no device synchronisation
            (the samples are grouped by radius on the host).

    Returns:
        Tensor: (B, 3, H, W), integer valued.
    """
    _check(x, sigma)
    if bool((sigma < 0).any()):
        raise ValueError('sigma must be >= 0')
    radius = pillow_box_radius(sigma)  # (B,) float32
    whole = radius.long()
    ww = torch.trunc(torch.tensor(float(1 << 24), device=radius.device) / (radius * 2 + 1)).long()  # C: UINT32
    fw = torch.div((1 << 24) - (whole * 2 + 1) * ww, 2, rounding_mode='floor')
    out = x.clone()
    keys = whole.masked_fill(sigma == 0, -1).cpu()
    for key in torch.unique(keys).tolist():
        if key < 0:
            continue  # sigma 0: Pillow copies the image
        idx = (keys == key).nonzero().flatten()
        dev_idx = idx.to(x.device)
        y = x.index_select(0, dev_idx).long()  # (b, 3, H, W)
        w_b, f_b = _per_sample(ww[idx], y, torch.long), _per_sample(fw[idx], y, torch.long)
        for dim in (3, 3, 3, 2, 2, 2):  # Pillow: all passes along x, then all along y
            y = _box_blur_pass(y, key, w_b, f_b, dim)
        out.index_copy_(0, dev_idx, y.to(x.dtype))
    return out

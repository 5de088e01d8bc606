# Copyright (c) mmlc contributors. All rights reserved.
"""A CPU colour pipeline (the configs of :data:`mmlc.datasets.transforms.COLOUR_PRESETS`) as per-sample random
parameters and batched operations on (B, 3, H, W) tensors.

The configs are built into the CPU transforms themselves and their parsed settings read back, so both paths read
one preset the same way (ColorJitter's ranges, GaussianBlur's magnitude mapping, ...). Parameters are drawn on the
host from a ``torch.Generator`` (a few numbers per sample) and the images change on their own device.
"""

from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmcv.transforms import RandomApply, RandomGrayscale
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur, Solarize
from torch import Tensor

from mmlc.datasets.transforms import FastColorJitter, FastGaussianBlur, build_colour_pipeline, colour_config
from .colour_ops import (adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, gaussian_blur, rgb_to_grey,
                         solarize)

#: The CPU transform types that have a batched version.
SUPPORTED_TRANSFORMS = ('RandomApply', 'ColorJitter', 'FastColorJitter', 'RandomGrayscale', 'GaussianBlur',
                        'FastGaussianBlur', 'Solarize')
#: ColorJitter's operations in the order of its permutation indices (mmpretrain: 0 brightness ... 3 hue).
JITTER_OPS = ('brightness', 'contrast', 'saturation', 'hue')

Params = Dict[str, Union[Tensor, list]]


def _coin(n: int, prob: float, generator: torch.Generator) -> Tensor:
    """(n,) bool, each True with probability ``prob``."""
    return torch.rand(n, generator=generator, dtype=torch.float64) < prob


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    """(n,) float64 uniform in [low, high)."""
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _check_prob(name: str, prob: float) -> float:
    if not 0 <= prob <= 1:
        raise ValueError(f'{name} prob must be in [0, 1], got {prob!r}')
    return float(prob)


def on_subset(x: Tensor, mask: Tensor, fn: Callable[..., Tensor], *params: Tensor) -> Tensor:
    """``fn`` applied to the samples of ``x`` that ``mask`` selects, the others unchanged.

    Args:
        x (Tensor): (B, 3, H, W).
        mask (Tensor): (B,) bool on the CPU (the selection costs no device synchronisation).
        fn (Callable): ``fn(x_subset, *params_subset) -> x_subset``.
        *params (Tensor): (B,) per-sample parameters, indexed like ``x``.

    Returns:
        Tensor: (B, 3, H, W), a new tensor (``x`` is not modified).
    """
    idx = mask.nonzero().flatten()  # (b,)
    if idx.numel() == 0:
        return x
    if idx.numel() == x.shape[0]:
        return fn(x, *params)
    dev_idx = idx.to(x.device)
    return x.index_copy(0, dev_idx, fn(x.index_select(0, dev_idx), *(p[idx] for p in params)))


class _Magnitude:
    """A fixed value, or mmpretrain's ``BaseAugTransform.random_magnitude`` of a transform."""

    def __init__(self, transform, fixed: Optional[float]) -> None:
        self.fixed = None if fixed is None else float(fixed)
        if self.fixed is None:
            self.level, self.std = float(transform.magnitude_level), transform.magnitude_std
            self.total = float(transform.total_level)
            self.low, self.high = (float(v) for v in transform.magnitude_range)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """(n,) float64 magnitudes."""
        if self.fixed is not None:
            return torch.full((n, ), self.fixed, dtype=torch.float64)
        if self.std == 'inf':
            level = _uniform(n, 0., self.level, generator)
        elif self.std > 0:
            level = (self.level +
                     self.std * torch.randn(n, generator=generator, dtype=torch.float64)).clamp(0, self.total)
        else:
            level = torch.full((n, ), self.level, dtype=torch.float64)
        return level / self.total * (self.high - self.low) + self.low

    def __repr__(self) -> str:
        if self.fixed is not None:
            return repr(self.fixed)
        return f'magnitude(level={self.level}, std={self.std}, total={self.total}, range=({self.low}, {self.high}))'


class ColourStep:
    """One colour transform of a pipeline: samples per-sample parameters, applies them to a batch."""

    def sample(self, n: int, generator: torch.Generator) -> Params:
        """Parameters of ``n`` samples; ``'apply'`` is the (n,) bool of samples the step changes."""
        raise NotImplementedError

    def apply(self, x: Tensor, params: Params, mask: Tensor, channel_order: str) -> Tensor:
        """``x`` (B, 3, H, W) with the step applied to the samples where ``mask & params['apply']``."""
        raise NotImplementedError


class JitterStep(ColourStep):
    """mmpretrain's ``ColorJitter``: the four operations in a per-sample random order, factors uniform in their
    ranges (an operation without a range is skipped, as on the CPU)."""

    def __init__(self, ranges: Sequence[Optional[Tuple[float, float]]]) -> None:
        self.ranges = [None if r is None else (float(r[0]), float(r[1])) for r in ranges]

    def sample(self, n: int, generator: torch.Generator) -> Params:
        # (n, 4): a uniform random permutation per sample (float64 keys: ties practically never happen)
        order = torch.argsort(torch.rand(n, 4, generator=generator, dtype=torch.float64), dim=1)
        factors = torch.full((n, 4), float('nan'), dtype=torch.float64)  # (n, 4) in JITTER_OPS order
        for j, rng in enumerate(self.ranges):
            if rng is not None:
                factors[:, j] = _uniform(n, rng[0], rng[1], generator)
        return dict(apply=torch.ones(n, dtype=torch.bool), order=order, factors=factors)

    def apply(self, x: Tensor, params: Params, mask: Tensor, channel_order: str) -> Tensor:
        ops = (adjust_brightness, partial(adjust_contrast, channel_order=channel_order),
               partial(adjust_saturation,
                       channel_order=channel_order), partial(adjust_hue, channel_order=channel_order))
        mask = mask & params['apply']
        order, factors = params['order'], params['factors']
        # Position k of each sample's permutation: every operation on the samples that put it there.
        for k in range(4):
            for j, op in enumerate(ops):
                if self.ranges[j] is not None:
                    x = on_subset(x, mask & (order[:, k] == j), op, factors[:, j])
        return x

    def __repr__(self) -> str:
        return f'JitterStep({dict(zip(JITTER_OPS, self.ranges))})'


class GreyStep(ColourStep):
    """mmcv's ``RandomGrayscale`` with ``keep_channels=True``."""

    def __init__(self, prob: float, channel_weights: Sequence[float]) -> None:
        self.prob = _check_prob('RandomGrayscale', prob)
        self.channel_weights = tuple(float(w) for w in channel_weights)

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return dict(apply=_coin(n, self.prob, generator))

    def apply(self, x: Tensor, params: Params, mask: Tensor, channel_order: str) -> Tensor:
        return on_subset(x, mask & params['apply'], partial(rgb_to_grey, channel_weights=self.channel_weights))

    def __repr__(self) -> str:
        return f'GreyStep(prob={self.prob}, channel_weights={self.channel_weights})'


class BlurStep(ColourStep):
    """mmpretrain's ``GaussianBlur`` (Pillow's), sigma fixed or drawn as the transform draws its radius."""

    def __init__(self, prob: float, sigma: _Magnitude) -> None:
        self.prob, self.sigma = _check_prob('GaussianBlur', prob), sigma

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return dict(apply=_coin(n, self.prob, generator), sigma=self.sigma.sample(n, generator))

    def apply(self, x: Tensor, params: Params, mask: Tensor, channel_order: str) -> Tensor:
        return on_subset(x, mask & params['apply'], gaussian_blur, params['sigma'])

    def __repr__(self) -> str:
        return f'BlurStep(prob={self.prob}, sigma={self.sigma})'


class SolarizeStep(ColourStep):
    """mmpretrain's ``Solarize``, threshold fixed or drawn as the transform draws it."""

    def __init__(self, prob: float, threshold: _Magnitude) -> None:
        self.prob, self.threshold = _check_prob('Solarize', prob), threshold

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return dict(apply=_coin(n, self.prob, generator), threshold=self.threshold.sample(n, generator))

    def apply(self, x: Tensor, params: Params, mask: Tensor, channel_order: str) -> Tensor:
        return on_subset(x, mask & params['apply'], solarize, params['threshold'])

    def __repr__(self) -> str:
        return f'SolarizeStep(prob={self.prob}, thr={self.threshold})'


class RandomApplyStep(ColourStep):
    """mmcv's ``RandomApply``: one coin per sample gates all its inner steps."""

    def __init__(self, prob: float, steps: List[ColourStep]) -> None:
        self.prob, self.steps = _check_prob('RandomApply', prob), steps

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return dict(apply=_coin(n, self.prob, generator), inner=[s.sample(n, generator) for s in self.steps])

    def apply(self, x: Tensor, params: Params, mask: Tensor, channel_order: str) -> Tensor:
        for step, inner in zip(self.steps, params['inner']):
            x = step.apply(x, inner, mask & params['apply'], channel_order)
        return x

    def __repr__(self) -> str:
        return f'RandomApplyStep(prob={self.prob}, steps={self.steps})'


def colour_step(transform) -> ColourStep:
    """The batched step of one built CPU colour transform (exact types only: another subclass may behave
    differently).

    Raises:
        ValueError: for a transform type without a batched version, or settings the batched version does not
            reproduce (ColorJitter's 'cv2' backend, RandomGrayscale without ``keep_channels`` or on HSV images).
    """
    kind = type(transform)
    if kind is RandomApply:
        return RandomApplyStep(transform.prob, [colour_step(t) for t in transform.transforms.transforms])
    if kind in (ColorJitter, FastColorJitter):  # FastColorJitter: ColorJitter's draws and pixels, faster on the CPU
        if transform.backend != 'pillow':
            raise ValueError(f"ColorJitter backend {transform.backend!r}: the batched version reproduces 'pillow'")
        return JitterStep([transform.brightness, transform.contrast, transform.saturation, transform.hue])
    if kind is RandomGrayscale:
        if not transform.keep_channels or transform.color_format == 'hsv':
            raise ValueError('RandomGrayscale needs keep_channels=True and BGR/RGB images in the batched version, '
                             f'got keep_channels={transform.keep_channels}, color_format={transform.color_format!r}')
        if len(transform.channel_weights) != 3:
            raise ValueError(f'RandomGrayscale channel_weights must have 3 entries, got {transform.channel_weights}')
        return GreyStep(transform.prob, transform.channel_weights)
    if kind in (GaussianBlur, FastGaussianBlur):  # both draw alike; the batched blur is Pillow's, exactly
        return BlurStep(transform.prob, _Magnitude(transform, transform.radius))
    if kind is Solarize:
        return SolarizeStep(transform.prob, _Magnitude(transform, transform.thr))
    raise ValueError(f'colour transform {kind.__name__} has no batched version for the data preprocessor; '
                     f'supported: {", ".join(SUPPORTED_TRANSFORMS)}')


class BatchedColourPipeline:
    """A colour pipeline (a preset name of ``COLOUR_PRESETS`` or a list of transform configs) for batches.

    Args:
        cfg (str | list[dict]): The same value that ``PairedCorrespondenceTransform``'s ``c_pipeline`` /
            ``sc_pipeline`` accept (an empty list: no colour change).
    """

    def __init__(self, cfg: Union[str, Sequence[dict]]) -> None:
        if cfg is None:
            raise ValueError('a colour pipeline must be a preset name or a list of configs, got None')
        self.cfg = colour_config(cfg, default='')
        self.steps = [colour_step(t) for t in build_colour_pipeline(self.cfg).transforms]

    def sample(self, n: int, generator: torch.Generator) -> List[Params]:
        """Per-sample parameters of every step for ``n`` samples (CPU tensors), drawn from ``generator``."""
        return [step.sample(n, generator) for step in self.steps]

    def apply(self, x: Tensor, params: List[Params], channel_order: str = 'bgr') -> Tensor:
        """The pipeline on a batch.

        Args:
            x (Tensor): (B, 3, H, W) float with integer values in [0, 255], on any device.
            params (list[dict]): :meth:`sample` for B samples.
            channel_order (str): 'bgr' (mmcv's images, what the CPU transforms assume) or 'rgb'. Defaults to 'bgr'.

        Returns:
            Tensor: (B, 3, H, W), integer valued, equal to the CPU transforms' images for the same parameters.
        """
        every = torch.ones(x.shape[0], dtype=torch.bool)
        for step, p in zip(self.steps, params):
            x = step.apply(x, p, every, channel_order)
        return x

    def __call__(self, x: Tensor, generator: torch.Generator, channel_order: str = 'bgr') -> Tensor:
        """:meth:`apply` with parameters freshly drawn from ``generator``."""
        return self.apply(x, self.sample(x.shape[0], generator), channel_order)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.steps})'

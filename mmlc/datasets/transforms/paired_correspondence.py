# Copyright (c) mmlc contributors. All rights reserved.
import copy
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmengine.registry import DefaultScope
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS


def _byol_colour_pipeline(blur_prob: float, solarize_prob: float) -> List[dict]:
    """BYOL's colour augmentations (mmpretrain's ``imagenet_bs32_byol`` views, minus crop and flip)."""
    return [
        dict(
            type='RandomApply',
            transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)],
            prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


#: BYOL's first view (blur always, never solarize): the default colour pipeline of I_c.
BYOL_VIEW1_COLOUR = _byol_colour_pipeline(blur_prob=1.0, solarize_prob=0.0)
#: BYOL's second view (blur 0.1, solarize 0.2): the default colour pipeline of I_sc.
BYOL_VIEW2_COLOUR = _byol_colour_pipeline(blur_prob=0.1, solarize_prob=0.2)
#: The paper's text for I_c (§3: "strong color transformations (for example, Gaussian blur, solarization, color
#: distortion)"): BYOL's view 1 plus solarisation with BYOL's only solarisation probability, 0.2.
BYOL_VIEW1_SOLARIZE_COLOUR = _byol_colour_pipeline(blur_prob=1.0, solarize_prob=0.2)

#: Named colour pipelines that ``c_pipeline`` / ``sc_pipeline`` accept instead of a list of configs.
COLOUR_PRESETS = {
    'byol-view1': BYOL_VIEW1_COLOUR,
    'byol-view2': BYOL_VIEW2_COLOUR,
    'byol-view1-solarize': BYOL_VIEW1_SOLARIZE_COLOUR,
}


def colour_config(cfg: Union[None, str, Sequence[dict]], default: str) -> List[dict]:
    """A copy of the colour transform configs that ``cfg`` names: a preset of :data:`COLOUR_PRESETS`, a list of
    configs, or None for the preset ``default``."""
    cfg = default if cfg is None else cfg
    if isinstance(cfg, str):
        if cfg not in COLOUR_PRESETS:
            raise ValueError(f'unknown colour preset {cfg!r}; choose from {sorted(COLOUR_PRESETS)} or give a list')
        cfg = COLOUR_PRESETS[cfg]
    return copy.deepcopy(list(cfg))


_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def with_fast_colour(cfg: Sequence[dict]) -> List[dict]:
    """A copy of colour transform configs with every Pillow-backend ``ColorJitter`` (also inside wrappers such as
    ``RandomApply``) replaced by :class:`~mmlc.datasets.transforms.colour.FastColorJitter` (the same random draws,
    the same pixels) and every ``GaussianBlur`` by :class:`~mmlc.datasets.transforms.colour.FastGaussianBlur` (the
    same draws, pixels within 2 levels of Pillow's)."""

    def swap(node):
        if isinstance(node, dict):
            node = {k: swap(v) for k, v in node.items()}
            if node.get('type') == 'ColorJitter' and node.get('backend', 'pillow') == 'pillow':
                node['type'] = 'FastColorJitter'
            elif node.get('type') == 'GaussianBlur':
                node['type'] = 'FastGaussianBlur'
            return node
        if isinstance(node, (list, tuple)):
            return type(node)(swap(v) for v in node)
        return node

    return [swap(t) for t in cfg]


def build_colour_pipeline(cfg: Sequence[dict]) -> Compose:
    """Compose colour transform configs in mmpretrain's scope (which falls back to mmcv's), whatever the
    caller's default scope, so that nested configs such as RandomApply(transforms=[ColorJitter]) resolve too."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose([TRANSFORMS.build(t) for t in copy.deepcopy(list(cfg))])


def _check_range(name: str, value: Sequence[float], low: float, high: Optional[float]) -> Tuple[float, float]:
    """Validate a (min, max) pair with ``low < min <= max (<= high)``."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ValueError(f'{name} must be a (min, max) pair, got {value!r}')
    lo, hi = float(value[0]), float(value[1])
    if not (low < lo <= hi and (high is None or hi <= high)):
        bound = f' <= {high}' if high is not None else ''
        raise ValueError(f'{name} must satisfy {low} < min <= max{bound}, got {value!r}')
    return lo, hi


def as_three_channel_uint8(img: np.ndarray, source: str = '<unknown>') -> np.ndarray:
    """Bring a decoded image to (H, W, 3) uint8: grey is replicated, an alpha channel dropped.

    Args:
        img (np.ndarray): (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image; uint8 or uint16.
        source (str): Where the image came from, for error messages.

    Returns:
        np.ndarray: (H, W, 3) uint8.
    """
    if not isinstance(img, np.ndarray):
        raise ValueError(f'image {source} was not decoded into an array (got {type(img).__name__})')
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f'image {source} has unusable shape {img.shape}')
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)  # 65535 -> 255
    elif img.dtype != np.uint8:
        raise ValueError(f'image {source} has dtype {img.dtype}; expected uint8 or uint16')
    channels = img.shape[2]
    if channels == 1:
        img = np.repeat(img, 3, axis=2)
    elif channels == 4:
        img = img[..., :3]  # drop alpha (decoders put it last)
    elif channels != 3:
        raise ValueError(f'image {source} has {channels} channels; expected 1, 3 or 4')
    return np.ascontiguousarray(img)


@TRANSFORMS.register_module()
class PairedCorrespondenceTransform(BaseTransform):
    """Make the two views of the LC-loss from one image and record how they correspond.

    - I_c: the whole image resized to ``size x size`` (no crop, no flip), then ``c_pipeline``.
    - I_sc: a random resized crop (sampled exactly as mmpretrain's ``RandomResizedCrop``) resized to
      ``size x size``, mirrored horizontally with probability ``flip_prob``, then ``sc_pipeline``.

    Required Keys:

    - img

    Modified Keys:

    - img: becomes ``[I_c, I_sc]``, each (size, size, 3) uint8
    - img_shape

    Added Keys:

    - sc_box: (4,) float32 crop ``[x0, y0, x1, y1]`` of I_sc in the input image (covers
      ``x0 <= x < x1``)
    - sc_flip: bool, whether I_sc was mirrored after cropping
    - src_shape: (H, W) of the image this transform received (the original image in the standard
      pipeline ``LoadImageFromFile -> PairedCorrespondenceTransform``)

    Pack the added keys with ``PackInputs(algorithm_keys=['sc_box', 'sc_flip', 'src_shape'])``.

    Args:
        size (int): Output side of both views. Defaults to 224.
        scale (tuple[float, float]): Crop area range relative to the image, as ``crop_ratio_range``
            of ``RandomResizedCrop``. Defaults to (0.08, 1.0).
        ratio (tuple[float, float]): Crop aspect-ratio range. Defaults to (3/4, 4/3).
        flip_prob (float): Probability of mirroring I_sc. Defaults to 0.5.
        interpolation (str): Resize interpolation. Defaults to 'bicubic' (BYOL's).
        backend (str): Resize backend, 'cv2' or 'pillow'. Defaults to 'pillow' (BYOL's).
        c_pipeline (list[dict] | str, optional): Colour transforms of I_c, or a preset name of
            :data:`COLOUR_PRESETS` (``'byol-view1-solarize'``: the paper's text, which lists solarisation among
            I_c's transforms). Defaults to BYOL's view 1 (``'byol-view1'``, no solarisation).
        sc_pipeline (list[dict] | str, optional): Colour transforms of I_sc, likewise. Defaults to BYOL's view 2.
            Empty lists leave the colour to the model's data preprocessor (``ColourAugDataPreprocessor``).
        fast_colour (bool): Run the colour pipelines' Pillow-backend ``ColorJitter`` as ``FastColorJitter`` (the
            same random draws and the same pixels, without Pillow's round trips) and ``GaussianBlur`` as
            ``FastGaussianBlur`` (the same draws, pixels within 2 levels), see :func:`with_fast_colour`.
            Defaults to True.
        max_attempts (int): Crop sampling attempts before the central-crop fallback. Defaults to 10.
    """

    def __init__(self,
                 size: int = 224,
                 scale: Tuple[float, float] = (0.08, 1.0),
                 ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                 flip_prob: float = 0.5,
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow',
                 c_pipeline: Union[None, str, List[dict]] = None,
                 sc_pipeline: Union[None, str, List[dict]] = None,
                 fast_colour: bool = True,
                 max_attempts: int = 10) -> None:
        if not (isinstance(size, int) and size > 0):
            raise ValueError(f'size must be a positive int, got {size!r}')
        self.scale = _check_range('scale', scale, 0., 1.)
        self.ratio = _check_range('ratio', ratio, 0., None)
        if not (isinstance(flip_prob, (int, float)) and 0 <= flip_prob <= 1):
            raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob!r}')
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}')
        if backend not in ('cv2', 'pillow'):
            raise ValueError(f"backend must be 'cv2' or 'pillow', got {backend!r}")
        self.size = size
        self.flip_prob = float(flip_prob)
        self.interpolation = interpolation
        self.backend = backend
        self.c_pipeline_cfg = colour_config(c_pipeline, 'byol-view1')
        self.sc_pipeline_cfg = colour_config(sc_pipeline, 'byol-view2')
        self.fast_colour = bool(fast_colour)
        swap = with_fast_colour if self.fast_colour else list
        self.c_pipeline = build_colour_pipeline(swap(self.c_pipeline_cfg))
        self.sc_pipeline = build_colour_pipeline(swap(self.sc_pipeline_cfg))
        # Reuse mmpretrain's crop sampler so I_sc's crops are distributed exactly as BYOL's.
        self._crop_sampler = RandomResizedCrop(
            scale=size,
            crop_ratio_range=self.scale,
            aspect_ratio_range=self.ratio,
            max_attempts=max_attempts,
            interpolation=interpolation,
            backend=backend)

    @cache_randomness
    def _rand_flip(self) -> bool:
        return bool(np.random.rand() < self.flip_prob)

    def _resize(self, img: np.ndarray) -> np.ndarray:
        return mmcv.imresize(img, (self.size, self.size), interpolation=self.interpolation, backend=self.backend)

    @staticmethod
    def _colour(pipeline: Compose, results: dict, view: np.ndarray) -> np.ndarray:
        out = pipeline(dict(results, img=view, img_shape=view.shape[:2]))
        if out is None:
            raise RuntimeError(f'a colour transform dropped the sample {results.get("img_path")}; '
                               'colour pipelines must not filter samples')
        return out['img']

    def transform(self, results: dict) -> dict:
        """Produce ``[I_c, I_sc]`` and the crop/flip record.

        Args:
            results (dict): Result dict with ``img`` (H, W[, C]).

        Returns:
            dict: The updated result dict.
        """
        img = as_three_channel_uint8(results['img'], str(results.get('img_path', '<in memory>')))
        h, w = img.shape[:2]
        top, left, crop_h, crop_w = self._crop_sampler.rand_crop_params(img)
        flip = self._rand_flip()

        view_c = self._resize(img)  # (size, size, 3)
        crop = mmcv.imcrop(img, np.array([left, top, left + crop_w - 1, top + crop_h - 1]))
        view_sc = self._resize(crop)  # (size, size, 3)
        if flip:
            view_sc = mmcv.imflip(view_sc, direction='horizontal')

        results['img'] = [
            self._colour(self.c_pipeline, results, view_c),
            self._colour(self.sc_pipeline, results, view_sc)
        ]
        results['img_shape'] = (self.size, self.size)
        results['sc_box'] = np.array([left, top, left + crop_w, top + crop_h], dtype=np.float32)
        results['sc_flip'] = flip
        results['src_shape'] = (h, w)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, '
                f'flip_prob={self.flip_prob}, interpolation={self.interpolation!r}, '
                f'backend={self.backend!r}, c_pipeline={self.c_pipeline_cfg}, '
                f'sc_pipeline={self.sc_pipeline_cfg}, fast_colour={self.fast_colour})')

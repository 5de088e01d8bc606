# Copyright (c) mmlc contributors. All rights reserved.
import logging
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

from .paired_correspondence import as_three_channel_uint8


@TRANSFORMS.register_module()
class LoadImageOrSkip(LoadImageFromFile):
    """``LoadImageFromFile`` that skips an unreadable or unusable image with a warning.

    A corrupt file, a missing file, or a decoded array that cannot become an (H, W, 3) uint8 image is
    logged with its path and the reason, and the transform returns ``None``: mmengine's
    ``BaseDataset`` then draws another sample (up to its ``max_refetch``), so one bad file among a
    million does not end a multi-day pretraining run. Test-mode datasets still raise, as mmengine
    does for every ``None`` sample there.

    Required Keys:

    - img_path

    Added Keys:

    - img: (H, W, 3) uint8, grey replicated and alpha dropped
    - img_shape
    - ori_shape

    Args:
        **kwargs: As :class:`mmcv.transforms.LoadImageFromFile`; ``to_float32`` is not supported.
    """

    def __init__(self, **kwargs) -> None:
        if kwargs.get('to_float32', False):
            raise ValueError('LoadImageOrSkip produces uint8 images; to_float32=True is not supported')
        super().__init__(**kwargs)

    def transform(self, results: dict) -> Optional[dict]:
        path = results.get('img_path', '<unknown>')
        try:
            results = super().transform(results)
            if results is None:  # ignore_empty=True and the file was missing
                raise FileNotFoundError('empty or missing file')
            results['img'] = as_three_channel_uint8(results['img'], str(path))
        except Exception as err:  # noqa: BLE001 - any decode failure means "skip this file"
            print_log(
                f'skipping unreadable image {path}: {type(err).__name__}: {err}',
                logger='current',
                level=logging.WARNING)
            return None
        return results

# Copyright (c) mmlc contributors. All rights reserved.
"""COCO person keypoints for mmdet: the dataset and the three pipeline steps keypoints need."""

from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets import CocoDataset
from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs
from mmdet.registry import DATASETS, TRANSFORMS

from .geometry import coco_to_continuous, transform_keypoints

# Output keypoint k of a horizontal flip is input keypoint COCO_FLIP_INDICES[k] (left <-> right).
COCO_FLIP_INDICES = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


def _kept_by_coco_dataset(ann: dict, img_info: dict, cat_ids: Sequence[int]) -> bool:
    """Whether ``CocoDataset.parse_data_info`` (mmdet 3.3) keeps an annotation as an instance."""
    x1, y1, w, h = ann['bbox']
    inter_w = max(0, min(x1 + w, img_info['width']) - max(x1, 0))
    inter_h = max(0, min(y1 + h, img_info['height']) - max(y1, 0))
    return (not ann.get('ignore', False) and inter_w * inter_h > 0 and ann['area'] > 0 and w >= 1 and h >= 1
            and ann['category_id'] in cat_ids)


@DATASETS.register_module()
class CocoKeypointDataset(CocoDataset):
    """``person_keypoints_*.json``: mmdet's COCO dataset with each instance's raw ``keypoints`` (3K list)."""

    METAINFO = dict(classes=('person', ), palette=[(220, 20, 60)])

    def parse_data_info(self, raw_data_info: dict) -> dict:
        data_info = super().parse_data_info(raw_data_info)
        img_info = raw_data_info['raw_img_info']
        kept = [a for a in raw_data_info['raw_ann_info'] if _kept_by_coco_dataset(a, img_info, self.cat_ids)]
        assert len(kept) == len(data_info['instances']), 'CocoDataset filters annotations differently'
        for instance, ann in zip(data_info['instances'], kept):
            instance['keypoints'] = ann.get('keypoints', [])
        return data_info


@TRANSFORMS.register_module()
class LoadKeypointAnnotations(LoadAnnotations):
    """mmdet's ``LoadAnnotations`` plus keypoints.

    Added Keys: ``gt_keypoints`` (np.float32, (N, K, 3) continuous ``[x, y, v]``; invisible = 0).

    Args:
        num_keypoints (int): K. Defaults to 17.
        **kwargs: ``LoadAnnotations`` arguments (``with_bbox`` ...).
    """

    def __init__(self, num_keypoints: int = 17, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_keypoints = num_keypoints

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        raw = [inst['keypoints'] or [0] * (3 * self.num_keypoints) for inst in results.get('instances', [])]
        results['gt_keypoints'] = coco_to_continuous(
            np.asarray(raw, dtype=np.float32).reshape(len(raw), self.num_keypoints, 3))
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', num_keypoints={self.num_keypoints})'


@TRANSFORMS.register_module()
class KeypointsFollowGeometry(BaseTransform):
    """Move ``gt_keypoints`` as mmdet's ``Resize`` and ``RandomFlip`` moved the boxes.

    Place it after the (single) resize and the flip. Required Keys: ``gt_keypoints``, ``img_shape``;
    optional ``scale_factor``, ``flip``, ``flip_direction``. Modified Keys: ``gt_keypoints``.

    Args:
        flip_indices (Sequence[int]): Left/right permutation. Defaults to COCO's.
    """

    def __init__(self, flip_indices: Sequence[int] = COCO_FLIP_INDICES) -> None:
        if sorted(flip_indices) != list(range(len(flip_indices))):
            raise ValueError(f'flip_indices must be a permutation, got {flip_indices}')
        self.flip_indices = tuple(flip_indices)

    def transform(self, results: dict) -> dict:
        flip = bool(results.get('flip', False))
        if flip and results.get('flip_direction') != 'horizontal':
            raise NotImplementedError(f'keypoints follow horizontal flips only, got {results["flip_direction"]}')
        results['gt_keypoints'] = transform_keypoints(results['gt_keypoints'], results.get('scale_factor', (1., 1.)),
                                                      flip, results['img_shape'][1], self.flip_indices)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(flip_indices={self.flip_indices})'


@TRANSFORMS.register_module()
class PackKeypointDetInputs(PackDetInputs):
    """``PackDetInputs`` that also packs ``gt_keypoints`` into ``gt_instances.keypoints`` (N, K, 3)."""

    mapping_table = {**PackDetInputs.mapping_table, 'gt_keypoints': 'keypoints'}

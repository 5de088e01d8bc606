# Copyright (c) mmlc contributors. All rights reserved.
"""Keypoint R-CNN for mmdet (Table 8).

Importing this package registers the dataset, transforms, head and
metric into mmdet's registries; the configs do it with ``custom_imports``.
"""

from .datasets import (COCO_FLIP_INDICES, CocoKeypointDataset, KeypointsFollowGeometry, LoadKeypointAnnotations,
                       PackKeypointDetInputs)
from .geometry import (coco_to_continuous, heatmaps_to_keypoints, keypoint_heatmap_targets, keypoint_loss,
                       transform_keypoints)
from .head import KeypointRCNNHead
from .metric import CocoKeypointMetric

__all__ = [
    'COCO_FLIP_INDICES', 'CocoKeypointDataset', 'CocoKeypointMetric', 'KeypointRCNNHead', 'KeypointsFollowGeometry',
    'LoadKeypointAnnotations', 'PackKeypointDetInputs', 'coco_to_continuous', 'heatmaps_to_keypoints',
    'keypoint_heatmap_targets', 'keypoint_loss', 'transform_keypoints'
]

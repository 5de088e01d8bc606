# Copyright (c) mmlc contributors. All rights reserved.
"""Downstream transfer: checkpoint conversion, COCO subsets, the paper's protocols and results tables.

Pure functions only; importing this package registers nothing.
"""

from .checkpoint_convert import (BACKBONE_PREFIXES, detectron2_key, extract_backbone, mmseg_vit_args, mmseg_vit_key,
                                 runner_state_dict, to_detectron2, to_mmseg_vit, to_torchvision)
from .coco_subset import sample_coco_subset
from .protocols import PROTOCOLS, Protocol, config_stem
from .results_table import parse_test_metrics, protocol_values, render_table

__all__ = [
    'BACKBONE_PREFIXES', 'PROTOCOLS', 'Protocol', 'config_stem', 'detectron2_key', 'extract_backbone', 'mmseg_vit_args',
    'mmseg_vit_key', 'parse_test_metrics', 'protocol_values', 'render_table', 'runner_state_dict', 'sample_coco_subset',
    'to_detectron2', 'to_mmseg_vit', 'to_torchvision'
]

# Copyright (c) mmlc contributors. All rights reserved.
"""The paper's downstream protocols: which config runs each, which logged metrics it reports, and the
paper's own number for its method ("OURS", ResNet-50, 400 pretraining epochs).

One list serves ``tools/benchmarks/run_all.sh`` (which configs to run) and the results-table writer
(which metric keys to read from each test log); the table in the README's "Downstream evaluation" mirrors it.
"""

from typing import NamedTuple, Tuple

# Metric keys as mmengine logs them at the end of a test: mmdet's CocoMetric prefixes "coco/" and
# reports AP in [0, 1]; mmseg's IoUMetric reports mIoU in percent.
BBOX = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')
SEGM = ('coco/segm_mAP', 'coco/segm_mAP_50', 'coco/segm_mAP_75')
KEYPOINTS = ('coco/keypoints_mAP', 'coco/keypoints_mAP_50', 'coco/keypoints_mAP_75')
MIOU = ('mIoU', )

DET_DIR = 'configs/benchmarks/mmdetection'
SEG_DIR = 'configs/benchmarks/mmsegmentation'


class Protocol(NamedTuple):
    """One row of the results table.

    Attributes:
        name (str): Row label.
        table (str): Where the paper reports it, e.g. ``'1'``.
        config (str): Config path relative to the repository root.
        framework (str): ``'mmdetection'`` or ``'mmsegmentation'`` (picks the benchmark script).
        metrics (tuple[str]): Logged keys: three (AP, AP50, AP75) or one (mIoU).
        scale (float): Factor from the logged value to percent.
        paper (tuple[float]): The paper's numbers for the same keys, in percent.
    """

    name: str
    table: str
    config: str
    framework: str
    metrics: Tuple[str, ...]
    scale: float
    paper: Tuple[float, ...]


def _det(name, table, config, metrics, paper) -> Protocol:
    return Protocol(name, table, f'{DET_DIR}/{config}', 'mmdetection', metrics, 100.0, paper)


def _seg(name, table, config, paper) -> Protocol:
    return Protocol(name, table, f'{SEG_DIR}/{config}', 'mmsegmentation', MIOU, 1.0, paper)


MASK_RCNN = 'mask-rcnn_r50_fpn_8xb2-1x_coco.py'
PROTOCOLS: Tuple[Protocol, ...] = (
    _det('COCO det, RetinaNet R50-FPN 90k', '1', 'retinanet_r50_fpn_8xb2-90k_coco.py', BBOX, (40.6, 60.4, 43.6)),
    _det('COCO det, Mask R-CNN R50-FPN 1x (box)', '1', MASK_RCNN, BBOX, (42.5, 62.9, 46.7)),
    _det('COCO inst. seg, Mask R-CNN R50-FPN 1x (mask)', '1', MASK_RCNN, SEGM, (38.3, 60.0, 41.1)),
    _det('VOC07+12 det, Faster R-CNN R50-FPN', '2', 'faster-rcnn_r50_fpn_8xb2-24k_voc0712-cocofmt.py', BBOX,
         (60.1, 84.2, 67.8)),
    _seg('VOC12aug seg, FCN R50 20k', '3', 'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py', (72.1, )),
    _seg('Cityscapes seg, FCN R50 40k', '3', 'fcn_r50-d8_4xb2-40k_cityscapes-769x769.py', (77.8, )),
    _det('VOC07+12 det, Faster R-CNN, frozen backbone', '4', 'faster-rcnn_r50-frozen_fpn_8xb2-24k_voc0712-cocofmt.py',
         BBOX, (55.1, 82.6, 61.7)),
    _det('COCO det, RetinaNet, frozen backbone', '4', 'retinanet_r50-frozen_fpn_8xb2-90k_coco.py', BBOX,
         (30.5, 49.8, 31.7)),
    _seg('VOC12aug seg, FCN, frozen backbone', '4', 'fcn_r50-frozen-d8_4xb4-20k_voc12aug-512x512.py', (63.4, )),
    _seg('Cityscapes seg, FCN, frozen backbone', '4', 'fcn_r50-frozen-d8_4xb2-40k_cityscapes-769x769.py', (60.7, )),
    _det('COCO keypoints, Keypoint R-CNN R50-FPN 90k', '8', 'keypoint-rcnn_r50_fpn_8xb2-90k_coco.py', KEYPOINTS,
         (67.2, 87.4, 73.7)),
    _det('COCO 5% det, Mask R-CNN R50-FPN 1x', '9', 'mask-rcnn_r50_fpn_8xb2-1x_coco-5pct.py', BBOX, (23.3, 37.4, 25.0)),
    _det('COCO 10% det, Mask R-CNN R50-FPN 1x', '9', 'mask-rcnn_r50_fpn_8xb2-1x_coco-10pct.py', BBOX,
         (27.9, 44.0, 30.1)),
)


def config_stem(protocol: Protocol) -> str:
    """The config's file name without ``.py``: the work-dir name the benchmark scripts use."""
    return protocol.config.rsplit('/', 1)[-1][:-len('.py')]

# Copyright (c) mmlc contributors. All rights reserved.
"""COCO keypoint AP (OKS) for mmdet test loops, through pycocotools' ``COCOeval(iouType='keypoints')``."""

from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path


@METRICS.register_module()
class CocoKeypointMetric(BaseMetric):
    """Keypoint AP, AP50, AP75, APm, APl of ``pred_instances.keypoints`` against a COCO keypoint file.

    Logged as ``coco/keypoints_mAP``, ``coco/keypoints_mAP_50``, ... (mmdet's CocoMetric naming).

    Args:
        ann_file (str): ``person_keypoints_val2017.json``.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'coco'.
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self, ann_file: str, collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        with get_local_path(ann_file) as local:
            self.coco = COCO(local)
        self.cat_id = self.coco.getCatIds(catNms=['person'])[0]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_instances']
            keypoints = pred['keypoints'] if 'keypoints' in pred else pred['scores'].new_zeros((0, 17, 3))
            self.results.append(
                dict(img_id=sample['img_id'], scores=pred['scores'].cpu().numpy(), keypoints=keypoints.cpu().numpy()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        dets = []
        for res in results:
            for score, kp in zip(res['scores'], res['keypoints']):
                kp = kp.copy()
                kp[:, :2] -= 0.5  # continuous coordinates -> COCO's pixel indices
                dets.append(
                    dict(
                        image_id=res['img_id'],
                        category_id=self.cat_id,
                        keypoints=kp.ravel().tolist(),
                        score=float(score)))
        names = ('keypoints_mAP', 'keypoints_mAP_50', 'keypoints_mAP_75', 'keypoints_mAP_m', 'keypoints_mAP_l')
        if not dets:  # pycocotools cannot load an empty result list
            return dict.fromkeys(names, 0.0)
        evaluator = COCOeval(self.coco, self.coco.loadRes(dets), 'keypoints')
        evaluator.params.imgIds = sorted({res['img_id'] for res in results})
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        return {name: float(np.round(v, 4)) for name, v in zip(names, evaluator.stats[:5])}

# Copyright (c) mmlc contributors. All rights reserved.
"""CocoKeypointMetric against hand-worked OKS / AP values on a tiny COCO person-keypoints file.

The GT people are small (area 72 px²) so that sub-pixel offsets move OKS across the AP thresholds.
Expected APs are derived from the OKS definition (cocodataset.org/#keypoints-eval) by a naive reference
below and from the COCO AP rule for one GT and one detection per image: at an OKS threshold t the
detection is a true positive iff OKS >= t, so AP = (number of t in 0.50:0.05:0.95 with OKS >= t) / 10.
"""
import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')
pytest.importorskip('pycocotools')

from mmdet.structures import DetDataSample
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from mmlc.downstream.keypoints import CocoKeypointMetric

NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow',
         'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
         'right_ankle')
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10],
            [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
# COCO's per-keypoint OKS constants (x10), as published with the keypoint challenge.
SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10
THRESHOLDS = [0.5 + 0.05 * i for i in range(10)]
AREA = 72.  # 8 x 9 box; used as the annotation's 'area', which is what OKS normalises by

# Image 1: all 17 keypoints visible, integer COCO pixel indices inside the box [10, 8, 8, 9].
KP1 = [(14, 9), (13, 9), (15, 9), (12, 10), (16, 10), (12, 11), (16, 11), (11, 13), (17, 13), (11, 15), (17, 15),
       (13, 14), (15, 14), (13, 16), (15, 16), (13, 17), (15, 17)]
VIS1 = [2] * 17
# Image 2: same shape moved to box [20, 20, 8, 9]; ears unlabelled (v = 0, stored as 0, 0), wrists occluded (v = 1).
KP2 = [(x + 10, y + 12) for x, y in KP1]
VIS2 = [2, 2, 2, 0, 0, 2, 2, 2, 2, 1, 1, 2, 2, 2, 2, 2, 2]
KP2 = [(0, 0) if v == 0 else p for p, v in zip(KP2, VIS2)]


def _flat(kp, vis):
    return [float(c) for (x, y), v in zip(kp, vis) for c in (x, y, v)]


@pytest.fixture
def ann_file(tmp_path):
    anns = [
        dict(
            id=1,
            image_id=1,
            category_id=1,
            bbox=[10, 8, 8, 9],
            area=AREA,
            iscrowd=0,
            num_keypoints=17,
            keypoints=_flat(KP1, VIS1)),
        dict(
            id=2,
            image_id=2,
            category_id=1,
            bbox=[20, 20, 8, 9],
            area=AREA,
            iscrowd=0,
            num_keypoints=sum(v > 0 for v in VIS2),
            keypoints=_flat(KP2, VIS2)),
    ]
    coco = dict(
        images=[dict(id=1, file_name='1.jpg', height=40, width=40),
                dict(id=2, file_name='2.jpg', height=40, width=40)],
        annotations=anns,
        categories=[dict(id=1, name='person', supercategory='person', keypoints=list(NAMES), skeleton=SKELETON)])
    path = tmp_path / 'person_keypoints.json'
    path.write_text(json.dumps(coco))
    return str(path)


def _continuous(kp, dx=0., dy=0.):
    """What the model predicts for COCO pixel indices ``kp``: continuous coordinates (pixel k covers
    [k, k + 1), so its centre is k + 0.5 -- the convention of ``coco_to_continuous``), plus an offset."""
    return [(x + 0.5 + dx, y + 0.5 + dy) for x, y in kp]


def _sample(img_id, people):
    """A model output as mmdet's test loop hands it to the evaluator: one DetDataSample per image.

    ``people`` is a list of (score, 17 (x, y) keypoints); the third keypoint column (a heatmap probability)
    is set to 1 - score so that a metric ranking detections by it instead of by ``scores`` would differ.
    """
    pred = InstanceData()
    pred.bboxes = torch.zeros((len(people), 4))
    pred.scores = torch.tensor([s for s, _ in people], dtype=torch.float32)
    pred.labels = torch.zeros(len(people), dtype=torch.long)
    pred.keypoints = torch.tensor([[[x, y, 1 - s] for x, y in kp] for s, kp in people],
                                  dtype=torch.float32).reshape(len(people), 17, 3)
    sample = DetDataSample(metainfo=dict(img_id=img_id, ori_shape=(40, 40)))
    sample.pred_instances = pred
    return sample


def _evaluate(ann_file, samples):
    evaluator = Evaluator(CocoKeypointMetric(ann_file=ann_file))
    evaluator.process(data_samples=samples, data_batch=None)
    return evaluator.evaluate(len(samples))


def _oks(pred_coco, gt_coco, vis, area=AREA):
    """Naive OKS (COCO keypoint-eval definition): mean over labelled keypoints of exp(-d^2 / (2 s^2 k^2)),
    s^2 = area, k = 2 sigma."""
    terms = [
        math.exp(-((px - gx)**2 + (py - gy)**2) / (2 * area * (2 * sig)**2))
        for (px, py), (gx, gy), v, sig in zip(pred_coco, gt_coco, vis, SIGMAS) if v > 0
    ]
    return sum(terms) / len(terms)


def _ap_one_gt_one_det(oks):
    return sum(oks >= t for t in THRESHOLDS) / len(THRESHOLDS)


def test_exact_predictions_score_one(ann_file):
    res = _evaluate(ann_file, [_sample(1, [(1.0, _continuous(KP1))]), _sample(2, [(1.0, _continuous(KP2))])])
    assert res['coco/keypoints_mAP'] == pytest.approx(1.0)
    assert res['coco/keypoints_mAP_50'] == pytest.approx(1.0)
    assert res['coco/keypoints_mAP_75'] == pytest.approx(1.0)
    # Both people are "small" (area < 32^2), which COCO keypoint AP does not score: pycocotools reports -1
    # for the medium and large ranges when they hold no ground truth.
    assert res['coco/keypoints_mAP_m'] == -1.0
    assert res['coco/keypoints_mAP_l'] == -1.0


@pytest.mark.parametrize(
    'dx, dy, ap, ap50, ap75',
    [
        # d^2 = 1 at every keypoint: OKS = 0.578 (in [0.55, 0.60)) -> matched at t = 0.50, 0.55 only.
        (1., 0., 0.2, 1.0, 0.0),
        # d^2 = 4: OKS = 0.249 < 0.5 -> never matched.
        (0., 2., 0.0, 0.0, 0.0),
    ])
def test_shifted_predictions_lose_ap_by_oks(ann_file, dx, dy, ap, ap50, ap75):
    gt = [(float(x), float(y)) for x, y in KP1]
    oks = _oks([(x + dx, y + dy) for x, y in gt], gt, VIS1)
    # The hand-worked AP above follows from the naive OKS; keep both in agreement, and OKS away from a threshold.
    assert _ap_one_gt_one_det(oks) == pytest.approx(ap)
    assert min(abs(oks - t) for t in THRESHOLDS) > 0.01
    # Only image 1 is fed, so only image 1 is evaluated (see test_only_images_fed_are_evaluated).
    res = _evaluate(ann_file, [_sample(1, [(1.0, _continuous(KP1, dx, dy))])])
    assert res['coco/keypoints_mAP'] == pytest.approx(ap, abs=1e-4)  # the metric rounds to 4 decimals
    assert res['coco/keypoints_mAP_50'] == pytest.approx(ap50, abs=1e-4)
    assert res['coco/keypoints_mAP_75'] == pytest.approx(ap75, abs=1e-4)


def test_half_pixel_convention_matters(ann_file):
    """Predictions at the raw COCO integer coordinates (forgetting the +0.5 of continuous pixels) land half a
    pixel up-left of the GT after the metric's -0.5: d^2 = 0.5, OKS = 0.719 -> matched at t <= 0.70 only."""
    gt = [(float(x), float(y)) for x, y in KP1]
    oks = _oks([(x - 0.5, y - 0.5) for x, y in gt], gt, VIS1)
    assert 0.70 < oks < 0.75
    assert _ap_one_gt_one_det(oks) == pytest.approx(0.5)
    raw = _evaluate(ann_file, [_sample(1, [(1.0, gt)])])
    right = _evaluate(ann_file, [_sample(1, [(1.0, _continuous(KP1))])])
    assert right['coco/keypoints_mAP'] == pytest.approx(1.0)
    assert raw['coco/keypoints_mAP'] == pytest.approx(0.5, abs=1e-4)
    assert raw['coco/keypoints_mAP_50'] == pytest.approx(1.0) and raw['coco/keypoints_mAP_75'] == 0.0


def test_unlabelled_keypoints_are_not_scored(ann_file):
    """Image 2's two v = 0 keypoints may be predicted anywhere; v = 1 (occluded) ones still count."""
    far = [(35., 35.) if v == 0 else p for p, v in zip(_continuous(KP2), VIS2)]
    res = _evaluate(ann_file, [_sample(2, [(1.0, far)])])
    assert res['coco/keypoints_mAP'] == pytest.approx(1.0)
    # Moving an occluded wrist (v = 1, sigma 0.062) by 3 px: its term is exp(-9 / (2 * 72 * 0.124^2)) = 0.017,
    # OKS = (14 + 0.017) / 15 = 0.934 -> matched at t <= 0.90, not at 0.95 -> AP 0.9.
    moved = list(_continuous(KP2))
    moved[9] = (moved[9][0] + 3, moved[9][1])
    gt = [(float(x), float(y)) for x, y in KP2]
    assert _oks([(x - 0.5, y - 0.5) for x, y in moved], gt, VIS2) == pytest.approx(
        (14 + math.exp(-9 / (2 * AREA * 0.124**2))) / 15)
    res = _evaluate(ann_file, [_sample(2, [(1.0, moved)])])
    assert res['coco/keypoints_mAP'] == pytest.approx(0.9, abs=1e-4)


def test_detections_are_ranked_by_score(ann_file):
    """A far-off false positive ranked above the true positive halves the precision at every recall."""
    good = _continuous(KP1)
    bad = _continuous(KP1, dx=10.)  # OKS ~ 0
    # FP first then TP: precision 1/2 at recall 1, interpolated back to recall 0 -> AP = 0.5 at every t.
    res = _evaluate(ann_file, [_sample(1, [(0.9, bad), (0.5, good)])])
    assert res['coco/keypoints_mAP'] == pytest.approx(0.5, abs=1e-4)
    # TP first: precision 1 up to recall 1 -> AP 1 (the later FP does not lower the interpolated precision).
    res = _evaluate(ann_file, [_sample(1, [(0.5, bad), (0.9, good)])])
    assert res['coco/keypoints_mAP'] == pytest.approx(1.0)


def test_no_detections_score_zero(ann_file):
    """With ground truth but no detection at all, recall is 0 at every threshold: AP is 0 (pycocotools
    itself cannot load an empty result list, so the metric answers this case without it).

    An image
    without keypoint predictions (mmdet's empty-result path fills ``masks``, not ``keypoints``) is fine.
    """
    empty = _sample(1, [])
    no_kp = DetDataSample(metainfo=dict(img_id=2))
    no_kp.pred_instances = InstanceData(
        bboxes=torch.zeros((0, 4)), scores=torch.zeros(0), labels=torch.zeros(0, dtype=torch.long))
    res = _evaluate(ann_file, [empty, no_kp])
    for name in ('keypoints_mAP', 'keypoints_mAP_50', 'keypoints_mAP_75'):
        assert res[f'coco/{name}'] == 0.0
    # (keypoints_mAP_m / _l also come back 0 here, where pycocotools would say -1: no medium/large GT.)


def test_only_images_fed_are_evaluated(ann_file):
    """COCOeval runs on the image ids the metric received, not on every image of the annotation file."""
    perfect1 = _sample(1, [(1.0, _continuous(KP1))])
    # Image 2 never fed: its GT is not counted.
    assert _evaluate(ann_file, [perfect1])['coco/keypoints_mAP'] == pytest.approx(1.0)
    # Image 2 fed with no detection: its GT is a miss. Recall 1/2 with precision 1 -> of the 101 recall
    # points 0.00..1.00, the 51 up to 0.50 get precision 1: AP = 51 / 101 at every threshold.
    res = _evaluate(ann_file, [perfect1, _sample(2, [])])
    assert res['coco/keypoints_mAP'] == pytest.approx(51 / 101, abs=1e-4)
    assert res['coco/keypoints_mAP_50'] == pytest.approx(51 / 101, abs=1e-4)
    # An image id unknown to the annotation file: harmless without detections ...
    assert _evaluate(ann_file, [perfect1, _sample(99, [])])['coco/keypoints_mAP'] == pytest.approx(1.0)
    # ... but a detection on it is refused by pycocotools' loadRes ("Results do not correspond to current
    # coco set") rather than silently dropped.
    with pytest.raises(AssertionError, match='do not correspond'):
        _evaluate(ann_file, [perfect1, _sample(99, [(1.0, _continuous(KP1))])])

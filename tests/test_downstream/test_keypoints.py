# Copyright (c) mmlc contributors. All rights reserved.
"""Keypoint R-CNN pieces (Table 8): geometry by hand, the loss against a loop, the pipeline on a sample."""

import math

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmlc.downstream.keypoints import (COCO_FLIP_INDICES, KeypointRCNNHead, KeypointsFollowGeometry, coco_to_continuous,
                                       heatmaps_to_keypoints, keypoint_heatmap_targets, keypoint_loss,
                                       transform_keypoints)


def test_coco_to_continuous():
    kp = np.array([[[10, 20, 2], [3, 4, 0], [0, 0, 1]]], dtype=np.float32)
    out = coco_to_continuous(kp)
    np.testing.assert_array_equal(out, [[[10.5, 20.5, 2], [0, 0, 0], [0.5, 0.5, 1]]])


def test_transform_keypoints_resize_and_flip_by_hand():
    # Image 100 wide resized x0.5 -> 50 wide, then flipped: x -> 50 - 0.5 x; keypoint 1 <-> 2 swap.
    kp = np.array([[[10, 20, 2], [30, 40, 2], [0, 0, 0]]], dtype=np.float32)
    out = transform_keypoints(kp, (0.5, 0.25), False, 50, (0, 2, 1))
    np.testing.assert_allclose(out, [[[5, 5, 2], [15, 10, 2], [0, 0, 0]]])
    out = transform_keypoints(kp, (0.5, 0.25), True, 50, (0, 2, 1))
    # keypoint 0 -> (50 - 5, 5); output slot 1 takes input 2 (invisible); slot 2 takes input 1 -> (35, 10)
    np.testing.assert_allclose(out, [[[45, 5, 2], [0, 0, 0], [35, 10, 2]]])


def test_flip_indices_swap_left_and_right():
    assert len(COCO_FLIP_INDICES) == 17 and sorted(COCO_FLIP_INDICES) == list(range(17))
    assert COCO_FLIP_INDICES[0] == 0  # nose
    assert COCO_FLIP_INDICES[5] == 6 and COCO_FLIP_INDICES[6] == 5  # shoulders
    assert all(COCO_FLIP_INDICES[COCO_FLIP_INDICES[k]] == k for k in range(17))
    with pytest.raises(ValueError):
        KeypointsFollowGeometry(flip_indices=(0, 0, 1))


def test_keypoints_follow_mmdet_resize_and_flip_like_boxes():
    """A keypoint on a box corner stays on that corner through mmdet's own Resize and RandomFlip."""
    from mmdet.datasets.transforms import RandomFlip, Resize
    from mmdet.structures.bbox import HorizontalBoxes
    img = np.zeros((60, 80, 3), np.uint8)
    kp = coco_to_continuous(np.array([[[9.5, 19.5, 2], [0, 0, 0], [29.5, 39.5, 2]]], np.float32))  # box corners
    results = dict(
        img=img,
        img_shape=(60, 80),
        ori_shape=(60, 80),
        gt_keypoints=kp,
        gt_bboxes=HorizontalBoxes(torch.tensor([[10., 20., 30., 40.]])))
    results = Resize(scale=(40, 30), keep_ratio=True)(results)
    results = RandomFlip(prob=1.0)(results)
    results = KeypointsFollowGeometry(flip_indices=(0, 2, 1))(results)
    box = results['gt_bboxes'].tensor[0].tolist()
    out = results['gt_keypoints'][0]
    # After the flip, input keypoint 0 (top-left corner) is the box's top-right corner, now in slot 0.
    np.testing.assert_allclose(out[0, :2], [box[2], box[1]], atol=1e-5)
    np.testing.assert_allclose(out[1, :2], [box[0], box[3]], atol=1e-5)  # input 2 (bottom-right) -> slot 1
    np.testing.assert_array_equal(out[2], [0, 0, 0])


def test_heatmap_targets_by_hand():
    rois = torch.tensor([[0., 0., 56., 56.], [10., 20., 38., 48.]])  # 56 px and 28 px square
    kp = torch.tensor([
        [[10.3, 20.7, 2], [56., 56., 2], [57., 3., 2], [5., 5., 0]],
        [[10., 20., 2], [24., 34., 1], [9.9, 30., 2], [38., 20., 2]],
    ])
    targets, valid = keypoint_heatmap_targets(kp, rois, 56)
    assert valid.tolist() == [[True, True, False, False], [True, True, False, True]]
    # roi 0: cell (20, 10); the bottom-right corner goes to the last cell (55, 55)
    # roi 1: scale 2 -> (0, 0); (24, 34) -> cells x 28, y 28; right edge x = 38 -> 55, y 0
    assert targets[valid].tolist() == [20 * 56 + 10, 55 * 56 + 55, 0, 28 * 56 + 28, 0 * 56 + 55]
    assert targets[~valid].eq(0).all()


def test_keypoint_loss_matches_a_loop():
    torch.manual_seed(0)
    logits = torch.randn(3, 4, 5, 5, requires_grad=True)
    targets = torch.randint(0, 25, (3, 4))
    valid = torch.rand(3, 4) > 0.4
    loss = keypoint_loss(logits, targets, valid)
    terms = []
    for r in range(3):
        for k in range(4):
            if valid[r, k]:
                flat = logits[r, k].flatten()
                terms.append(-(flat[targets[r, k]] - torch.logsumexp(flat, 0)))
    torch.testing.assert_close(loss, torch.stack(terms).mean())
    loss.backward()
    assert logits.grad[~valid].abs().sum() == 0 and logits.grad[valid].abs().sum() > 0
    zero = keypoint_loss(logits, targets, torch.zeros_like(valid))
    assert zero.item() == 0 and zero.requires_grad


def test_heatmaps_to_keypoints_by_hand():
    # RoI 56 x 56 px at (10, 20): the resize is the identity, so a peak in cell (y=7, x=30) decodes to
    # the cell centre (10 + 30.5, 20 + 7.5); its score is the softmax probability of that cell.
    logits = torch.zeros(1, 2, 56, 56)
    logits[0, 0, 7, 30] = 10.
    logits[0, 1, 55, 0] = 3.
    out = heatmaps_to_keypoints(logits, torch.tensor([[10., 20., 66., 76.]]))
    torch.testing.assert_close(out[0, :, :2], torch.tensor([[40.5, 27.5], [10.5, 75.5]]))
    expected = math.exp(10) / (math.exp(10) + 56 * 56 - 1)
    assert out[0, 0, 2].item() == pytest.approx(expected, rel=1e-5)


def test_decode_inverts_the_targets():
    """A one-hot heatmap at a keypoint's target cell decodes to within one cell of the keypoint."""
    torch.manual_seed(1)
    rois = torch.tensor([[5., 8., 117., 64.], [0., 0., 30., 90.]])
    kp = torch.stack([
        torch.stack([
            rois[:, 0] + (rois[:, 2] - rois[:, 0]) * torch.rand(2), rois[:, 1] +
            (rois[:, 3] - rois[:, 1]) * torch.rand(2),
            torch.full((2, ), 2.)
        ], -1) for _ in range(5)
    ], 1)  # (2, 5, 3)
    targets, valid = keypoint_heatmap_targets(kp, rois, 56)
    assert valid.all()
    logits = torch.full((2, 5, 56 * 56), -20.)
    logits.scatter_(2, targets[..., None], 20.)
    out = heatmaps_to_keypoints(logits.view(2, 5, 56, 56), rois)
    cell = torch.stack([(rois[:, 2] - rois[:, 0]) / 56, (rois[:, 3] - rois[:, 1]) / 56], -1)[:, None]  # (2, 1, 2)
    assert ((out[..., :2] - kp[..., :2]).abs() <= cell + 1e-4).all()


def test_head_shapes_and_rescale():
    from mmengine.structures import InstanceData
    head = KeypointRCNNHead(num_keypoints=17, in_channels=8, conv_channels=16, num_convs=2)
    head.init_weights()
    out = head(torch.randn(3, 8, 14, 14))
    assert out.shape == (3, 17, 56, 56)
    results = InstanceData(bboxes=torch.tensor([[0., 0., 56., 56.], [10., 10., 40., 30.]]), scores=torch.ones(2))
    [res] = head.predict_by_feat((out[:2], ), [results], [dict(scale_factor=(2.0, 4.0))], None, rescale=True)
    torch.testing.assert_close(res.bboxes, torch.tensor([[0., 0., 28., 14.], [5., 2.5, 20., 7.5]]))
    assert res.keypoints.shape == (2, 17, 3)
    assert (res.keypoints[0, :, 0] <= 28).all() and (res.keypoints[0, :, 1] <= 14).all()


def test_head_predict_decodes_a_peak_by_hand():
    """Hand-made 56 x 56 logits with one sharp peak, through the head's ``predict_by_feat`` with rescale.

    Decoding (detectron2): the map is resized bicubically (align_corners=False, a = -0.75) to
    ceil(roi_h) x ceil(roi_w); the argmax pixel j of that map decodes to x0 + (j + 0.5) * roi_w / ceil(roi_w)
    (same for y), and the result is divided by scale_factor = (w_scale, h_scale) = (2, 0.5).

    Resize: output pixel j samples the input at s = (j + 0.5) * 56 / n - 0.5. With a single non-zero input
    cell c, the output is P * W(|s - c|) (times the other axis' weight), W the cubic kernel:
    W(0) = 1, W(0.5) = 1.25 / 8 - 2.25 / 4 + 1 = 0.59375, W(t) < 0 for 1 < t < 2, W = 0 beyond. So the argmax
    is the j whose s is nearest c (within 0.5), and the peak value is P * W(dx) * W(dy).

    RoI A = [20, 40, 48, 96] (28 x 56 px), keypoint 0 peaks at cell (y=7, x=30), keypoint 5 at (y=50, x=1):
      y: n = 56, s = j -> identity: j = 7 and 50.
      x: n = 28, s = 2j + 0.5: c = 30 -> j = 15 (s = 30.5); c = 1 -> j = 0 (s = 0.5; j = 1 gives 2.5).
      kp 0: x = 20 + 15.5 * 28 / 28 = 35.5 -> / 2 = 17.75; y = 40 + 7.5 = 47.5 -> / 0.5 = 95.
      kp 5: x = 20 + 0.5 = 20.5 -> 10.25; y = 40 + 50.5 = 90.5 -> 181.
    RoI B = [10.2, 5, 31.4, 33] (21.2 x 28 px), keypoint 3 peaks at cell (y=20, x=26):
      x: n = ceil(21.2) = 22, s = (j + 0.5) * 56 / 22 - 0.5: j = 10 -> s = 26.227 (j = 9: 23.68, j = 11: 28.77),
         so x = 10.2 + 10.5 * 21.2 / 22 = 20.318..., / 2.
      y: n = 28, s = 2j + 0.5: c = 20 -> j = 10 (s = 20.5), y = 5 + 10.5 * 28 / 28 = 15.5 -> / 0.5 = 31.
    Score of RoI A's keypoint 0: the softmax over the 56 x 56 logits taken at the resized peak value
    m = 0.59375 P (dy = 0, dx = 0.5): 1 / (exp(P - m) + (56 * 56 - 1) * exp(-m)).
    """
    from mmengine.structures import InstanceData
    head = KeypointRCNNHead(num_keypoints=17, in_channels=8, conv_channels=16, num_convs=2)
    P = 10.
    logits = torch.zeros(2, 17, 56, 56)
    logits[0, 0, 7, 30] = P
    logits[0, 5, 50, 1] = P
    logits[1, 3, 20, 26] = P
    bboxes = torch.tensor([[20., 40., 48., 96.], [10.2, 5., 31.4, 33.]])
    results = InstanceData(bboxes=bboxes.clone(), scores=torch.ones(2), labels=torch.zeros(2, dtype=torch.long))
    [res] = head.predict_by_feat((logits, ), [results], [dict(scale_factor=(2.0, 0.5))], None, rescale=True)
    torch.testing.assert_close(res.bboxes, bboxes / torch.tensor([2., .5, 2., .5]))
    torch.testing.assert_close(res.keypoints[0, 0, :2], torch.tensor([17.75, 95.]))
    torch.testing.assert_close(res.keypoints[0, 5, :2], torch.tensor([10.25, 181.]))
    torch.testing.assert_close(res.keypoints[1, 3, :2], torch.tensor([(10.2 + 10.5 * 21.2 / 22) / 2, 31.]))
    m = 0.59375 * P
    assert res.keypoints[0, 0, 2].item() == pytest.approx(
        1 / (math.exp(P - m) + (56 * 56 - 1) * math.exp(-m)), rel=1e-5)
    # Without rescale the keypoints stay in the network-input frame.
    results = InstanceData(bboxes=bboxes.clone(), scores=torch.ones(2), labels=torch.zeros(2, dtype=torch.long))
    [res] = head.predict_by_feat((logits, ), [results], [dict(scale_factor=(2.0, 0.5))], None, rescale=False)
    torch.testing.assert_close(res.bboxes, bboxes)
    torch.testing.assert_close(res.keypoints[0, 0, :2], torch.tensor([35.5, 47.5]))


def test_dataset_keeps_each_instance_with_its_own_keypoints(tmp_path):
    import json

    from mmlc.downstream.keypoints import CocoKeypointDataset
    kp = [[float(a), float(a), 2.0] * 17 for a in (1, 2, 3, 4)]
    anns = [
        dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 0.5, 5], area=2.5, iscrowd=0, keypoints=kp[0]),  # w < 1
        dict(id=2, image_id=1, category_id=1, bbox=[1, 1, 5, 5], area=25, iscrowd=0, keypoints=kp[1]),
        dict(id=3, image_id=1, category_id=1, bbox=[2, 2, 5, 5], area=25, iscrowd=1, keypoints=kp[2]),  # crowd
        dict(id=4, image_id=1, category_id=1, bbox=[30, 30, 5, 5], area=25, iscrowd=0, keypoints=kp[3])
    ]  # outside
    coco = dict(
        images=[dict(id=1, file_name='a.jpg', height=20, width=20)],
        annotations=anns,
        categories=[dict(id=1, name='person')])
    (tmp_path / 'kp.json').write_text(json.dumps(coco))
    ds = CocoKeypointDataset(data_root=str(tmp_path), ann_file='kp.json', data_prefix=dict(img=''), pipeline=[])
    instances = ds.get_data_info(0)['instances']
    assert [i['ignore_flag'] for i in instances] == [0, 1]  # mmdet keeps crowds as ignored instances
    assert [i['keypoints'] for i in instances] == [kp[1], kp[2]]

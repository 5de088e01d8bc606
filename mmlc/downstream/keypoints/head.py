# Copyright (c) mmlc contributors. All rights reserved.
"""Keypoint R-CNN head for mmdet (mmdet 3.x has none; the paper's Table 8 uses detectron2's).

It plugs into mmdet's ``StandardRoIHead`` in the mask branch's place (``mask_roi_extractor`` +
``mask_head``): that branch already runs on the positive RoIs in training and on the final boxes in
testing, which is exactly where Keypoint R-CNN's branch runs, so no new RoI head is needed.
"""

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from .geometry import heatmaps_to_keypoints, keypoint_heatmap_targets, keypoint_loss


@MODELS.register_module()
class KeypointRCNNHead(BaseModule):
    """detectron2's ``KRCNNConvDeconvUpsampleHead``: 8 x (3x3 conv 512, ReLU), a stride-2 4x4 deconv to
    K maps, then x2 bilinear upsampling: 14 x 14 RoI features -> K x 56 x 56 heatmap logits.

    Args:
        num_keypoints (int): K. Defaults to 17 (COCO).
        in_channels (int): RoI feature channels. Defaults to 256.
        conv_channels (int): Channels of the conv stack. Defaults to 512.
        num_convs (int): Depth of the conv stack. Defaults to 8.
        loss_weight (float): Weight of the keypoint loss. Defaults to 1.0.
        init_cfg (dict, optional): Defaults to Kaiming-normal (fan-out) convs and a zero bias, as
            detectron2 initialises them.
    """

    def __init__(
        self,
        num_keypoints: int = 17,
        in_channels: int = 256,
        conv_channels: int = 512,
        num_convs: int = 8,
        loss_weight: float = 1.0,
        init_cfg: Optional[dict] = dict(
            type='Kaiming', layer=['Conv2d', 'ConvTranspose2d'], mode='fan_out', nonlinearity='relu', bias=0)
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_keypoints = num_keypoints
        self.loss_weight = loss_weight
        layers = []
        for i in range(num_convs):
            layers += [
                nn.Conv2d(in_channels if i == 0 else conv_channels, conv_channels, 3, padding=1),
                nn.ReLU(inplace=True)
            ]
        self.convs = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(conv_channels, num_keypoints, 4, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(R, C, s, s) RoI features -> (R, K, 4s, 4s) heatmap logits."""
        x = self.deconv(self.convs(x))  # (R, K, 2s, 2s)
        return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)  # (R, K, 4s, 4s)

    def loss_and_target(self, mask_preds: Tensor, sampling_results: list, batch_gt_instances: List[InstanceData],
                        rcnn_train_cfg: ConfigDict) -> dict:
        """The keypoint loss on the positive RoIs (``StandardRoIHead.mask_loss`` calls this).

        Args:
            mask_preds (Tensor): (R, K, S, S) logits of all images' positive RoIs, in order.
            sampling_results (list[SamplingResult]): ``pos_priors`` (RoIs) and ``pos_assigned_gt_inds``.
            batch_gt_instances (list[InstanceData]): Per image, ``keypoints`` (N, K, 3).
            rcnn_train_cfg (ConfigDict): Unused.

        Returns:
            dict: ``loss_mask=dict(loss_keypoint=...)`` (the key the RoI head collects) and
            ``mask_targets`` (R, K) flat heatmap indices.
        """
        rois = torch.cat([res.pos_priors for res in sampling_results])  # (R, 4)
        keypoints = torch.cat([
            gt.keypoints[res.pos_assigned_gt_inds] for res, gt in zip(sampling_results, batch_gt_instances)
        ]).to(rois)  # (R, K, 3)
        targets, valid = keypoint_heatmap_targets(keypoints, rois, mask_preds.shape[-1])
        loss = keypoint_loss(mask_preds, targets, valid) * self.loss_weight
        return dict(loss_mask=dict(loss_keypoint=loss), mask_targets=targets)

    def predict_by_feat(self,
                        mask_preds: Tuple[Tensor],
                        results_list: List[InstanceData],
                        batch_img_metas: List[dict],
                        rcnn_test_cfg: ConfigDict,
                        rescale: bool = False,
                        **kwargs) -> List[InstanceData]:
        """Add ``keypoints`` (n, K, 3) ``[x, y, score]`` to each image's detections.

        As mmdet's mask heads do, rescales ``bboxes`` in place to the original image when ``rescale``
        (the RoI head leaves that to the mask branch), and the keypoints with them.
        """
        for preds, results, meta in zip(mask_preds, results_list, batch_img_metas):
            bboxes = results.bboxes  # (n, 4), network-input frame
            keypoints = heatmaps_to_keypoints(preds, bboxes) if len(bboxes) else bboxes.new_zeros(
                (0, self.num_keypoints, 3))
            if rescale:
                scale = bboxes.new_tensor(meta['scale_factor'])  # (w_scale, h_scale)
                results.bboxes = bboxes / scale.repeat(2)
                keypoints[..., :2] /= scale
            results.keypoints = keypoints
        return results_list

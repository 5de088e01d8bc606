# Copyright (c) mmlc contributors. All rights reserved.
from itertools import groupby
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor


@MODELS.register_module()
class DINO(BaseSelfSupervisor):
    """DINO: self-distillation with no labels (Caron et al., "Emerging Properties in Self-Supervised Vision
    Transformers", ICCV 2021).

    A student (``backbone`` + ``neck``, see :class:`~mmlc.models.DINONeck`) and a teacher that is its
    ``CosineEMA`` (``teacher``: momentum 0.996 -> 1 on a cosine schedule, i.e. ``base_momentum=0.004`` in
    mmpretrain's convention, the weight of the new parameters). ``inputs`` are the multi-crop views: the first
    two are the global crops, which the teacher sees; the student sees all of them. The head
    (:class:`~mmlc.models.DINOHead`) centres and sharpens the teacher and computes the cross-entropy over every
    (teacher view i, student view j != i) pair.

    As in DINO's reference training, consecutive views of the same size go through the backbone as one batch
    (the two global crops together, the local crops together), which matters for BatchNorm backbones; the
    teacher runs in the model's mode (train mode during training: batch statistics) with stochastic depth
    switched off, as DINO builds its teacher without drop-path. The last-layer freeze, the teacher-temperature
    warm-up and DINO's per-tensor gradient clipping are hooks (:class:`~mmlc.engine.DINOFreezeLastLayerHook`,
    :class:`~mmlc.engine.DINOTeacherTempHook`, :class:`~mmlc.engine.DINOGradClipHook`), since they act on the
    optimiser step or on the epoch.

    Args:
        backbone (dict): Backbone config (e.g. ``VisionTransformer`` with ``out_type='cls_token'``, or
            ``ResNet``).
        neck (dict): Projection head config, ``DINONeck``.
        head (dict): Loss head config, ``DINOHead``.
        base_momentum (float): Start value of ``CosineEMA``'s momentum (weight of the new parameters), in
            (0, 1]. Defaults to 0.004.
        pretrained (str, optional): Checkpoint to load. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict or list[dict], optional): Initialisation config. Defaults to None.
    """

    #: Views seen by the teacher: the first two (the global crops).
    num_global_views = 2

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.004,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if not 0 < base_momentum <= 1:
            raise ValueError(f'base_momentum (weight of the new parameters) must be in (0, 1], got {base_momentum!r}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.teacher = CosineEMA(nn.Sequential(self.backbone, self.neck), momentum=base_momentum)
        for module in self.teacher.modules():
            if isinstance(module, DropPath):
                module.drop_prob = 0.

    @staticmethod
    def forward_views(backbone: nn.Module, neck: nn.Module, views: List[Tensor]) -> Tensor:
        """Logits of every view, running each run of consecutive same-sized views as one batch.

        Args:
            backbone (nn.Module): Student or teacher backbone.
            neck (nn.Module): The matching projection head.
            views (list[Tensor]): V views, each (B, 3, H_v, W_v).

        Returns:
            Tensor: (V, B, K).
        """
        logits = []
        for _, run in groupby(views, key=lambda view: view.shape):
            batch = torch.cat(list(run))  # (n * B, 3, H, W): n views of one size
            logits.append(neck(backbone(batch))[0])  # (n * B, K)
        return torch.cat(logits).unflatten(0, (len(views), -1))  # (V * B, K) -> (V, B, K)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample], **kwargs) -> Dict[str, Tensor]:
        """DINO loss of the student on all views against the teacher on the global views.

        Args:
            inputs (list[Tensor]): The views, each (B, 3, H_v, W_v): two global crops, then the local crops.
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: ``loss`` and the detached ``teacher_temp`` in use.
        """
        if not isinstance(inputs, list) or len(inputs) < self.num_global_views:
            got = f'{len(inputs)} views' if isinstance(inputs, list) else type(inputs).__name__
            raise ValueError(f'DINO expects a list of at least {self.num_global_views} views (global crops '
                             f'first), got {got}')
        with torch.no_grad():
            self.teacher.update_parameters(nn.Sequential(self.backbone, self.neck))
            teacher_backbone, teacher_neck = self.teacher.module
            teacher_logits = self.forward_views(teacher_backbone, teacher_neck,
                                                inputs[:self.num_global_views])  # (2, B, K)
        student_logits = self.forward_views(self.backbone, self.neck, inputs)  # (V, B, K)
        loss = self.head.loss(student_logits, teacher_logits)
        return dict(loss=loss, teacher_temp=torch.tensor(self.head.teacher_temp, device=loss.device))

# Copyright (c) mmlc contributors. All rights reserved.
from itertools import groupby
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..utils.tokens import patch_grid_size, patch_tokens_to_map
from .dino import DINO
from .local_branch import LocalBranch, check_alpha

Feats = Tuple[Tensor, ...]


def dense_backbone_config(backbone: dict) -> dict:
    """Check that a backbone config keeps dense features for LC-loss.

    A ViT (mmpretrain ``VisionTransformer`` or subclass) must return its whole token sequence
    (``out_type='raw'``): the class token feeds DINO's head, the patch tokens of the same forward pass feed LC. Any
    other backbone (e.g. ``ResNet``) is taken as returning (B, C, h, w) maps, checked at the first forward.

    Args:
        backbone (dict): Backbone config.

    Returns:
        dict: The same config.

    Raises:
        ValueError: A ViT whose ``out_type`` is not ``'raw'``, or one without a class token.
    """
    backbone_cls = MODELS.get(backbone.get('type', ''))
    if isinstance(backbone_cls, type) and issubclass(backbone_cls, VisionTransformer):
        out_type = backbone.get('out_type', 'cls_token')  # VisionTransformer's default
        if out_type != 'raw':
            raise ValueError('DINOLocalContrast reads the class token and the patch tokens of one forward pass: a '
                             f"ViT backbone must output raw tokens (out_type='raw'), got out_type={out_type!r}")
        if not backbone.get('with_cls_token', True):
            raise ValueError("DINOLocalContrast feeds DINO's head the class token: the ViT needs with_cls_token=True")
    return backbone


@MODELS.register_module()
class DINOLocalContrast(DINO):
    """DINO with the local contrastive loss (Islam et al., WACV 2023): :class:`DINO` plus a :class:`LocalBranch`.

    Views: ``inputs = [I_c, I_sc, local_1, ..., local_N]`` (see :class:`~mmlc.datasets.PairedMultiCrop`). The
    paper's pair takes the place of DINO's two global crops: I_c is the whole image resized with the first global
    view's colour transforms only, I_sc a random resized crop at the global crop scale, maybe flipped, with the
    second global view's colour transforms; the N local crops are DINO's, untouched. Why this mapping:

    - LC needs the *target* branch on I_c. DINO's teacher sees the global views only, so I_c must be one of them,
      and it must be uncropped so that every cell of I_sc has its counterpart in I_c (the paper's I_c).
    - The student sees every view; I_sc as the other global view gives it the same size as I_c (the same patch
      grid or map size, as in BYOL + LC) and costs no forward pass: the teacher's pass over the global views
      yields its dense map of I_c, the student's pass over them its dense map of I_sc.
    - The local crops keep DINO's local-to-global role and take no part in LC; tying LC to them would need a
      crop record per local crop and would compare a 96 px view's coarse map with I_c's.

    So this plug-in changes the base method's views: DINO's loss sees I_c and I_sc instead of two random crops
    of scale (0.4, 1) (compare with DINO on its own views too, as the mini study's ``dino`` run does); with
    ``alpha=0`` it is exactly :class:`DINO`'s loss on the same inputs and weights.

    Dense features: a ViT backbone runs with ``out_type='raw'``; its final LayerNorm acts on every token before
    the output is formatted, so ``tokens[:, 0]`` is bit for bit ``out_type='cls_token'``'s output, which DINO's
    head reads, and the patch tokens of the same pass, laid out on the input's patch grid
    (:func:`~mmlc.models.utils.patch_tokens_to_map`, class token excluded), are LC's maps. A ResNet's last-stage
    map serves both (DINO's neck pools it). LC compares the teacher's map of I_c (through the local target twin)
    with the student's map of I_sc through the known correspondence (Eq. 2-4):
    ``loss = (1 - alpha) * L_dino + alpha * L_local`` (Eq. 5). The local target twin ``target_local_neck`` is a
    ``CosineEMA`` with the teacher's start momentum and cosine schedule, updated at the same step. Consecutive views
    of one size share a batch as in :class:`DINO` (I_c and I_sc go through each network together).

    Parameter names of the shared parts are :class:`DINO`'s (``backbone``, ``neck``, ``head``, ``teacher``), so a
    DINO checkpoint loads with only the local-branch keys (``local_neck``, ``target_local_neck``) missing.

    Args:
        backbone (dict): ViT config with ``out_type='raw'``, or a backbone that returns (B, C, h, w) maps.
        neck (dict): ``DINONeck`` config (``with_avg_pool=True`` for maps).
        head (dict): ``DINOHead`` config.
        local_neck (dict | list[dict]): Local projector config(s): ``TokenLocalProjectionNeck`` for a ViT,
            ``LocalProjectionNeck`` for a ResNet; each reads backbone output ``in_index`` (a ViT output as its
            (B, C, h, w) patch map).
        local_head (dict): Local loss head config, e.g. ``LCLossHead``.
        alpha (float): Weight of the local loss, in [0, 1]. Defaults to 0.1.
        local_weights (Sequence[float], optional): Weight of each local neck's loss. Defaults to 1 for one neck
            and ``1 / L`` for L necks.
        symmetric (bool): Also apply LC-loss from I_sc (teacher) to I_c (student). Defaults to False.
        base_momentum (float): ``CosineEMA`` start momentum (weight of the *new* parameters) of the teacher and of
            the local target twin. Defaults to 0.004 (DINO's 0.996 -> 1).
        pretrained (str, optional): Checkpoint to load. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict or list[dict], optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 local_neck: Union[dict, List[dict]],
                 local_head: dict,
                 alpha: float = 0.1,
                 local_weights: Optional[Sequence[float]] = None,
                 symmetric: bool = False,
                 base_momentum: float = 0.004,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        alpha = check_alpha(alpha)  # before the base class builds anything
        super().__init__(
            backbone=dense_backbone_config(backbone),
            neck=neck,
            head=head,
            base_momentum=base_momentum,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.alpha = alpha
        # Registers local_neck, local_head and target_local_neck on this model.
        self.local_branch = LocalBranch(
            self, local_neck, local_head, local_weights=local_weights, symmetric=symmetric, momentum=base_momentum)

    def neck_inputs(self, feats: Sequence[Tensor]) -> Feats:
        """What DINO's neck reads from one backbone forward pass.

        Args:
            feats (Sequence[Tensor]): Backbone outputs: raw ViT token sequences (B, num_extra_tokens + h * w, C),
                or (B, C, h, w) maps.

        Returns:
            tuple[Tensor]: A ViT's last class token (B, C) as a 1-tuple (what ``out_type='cls_token'`` returns);
            other backbones' outputs as they are.
        """
        if isinstance(self.backbone, VisionTransformer):
            return (feats[-1][:, 0], )
        return tuple(feats)

    def dense_maps(self, feats: Sequence[Tensor], input_hw: Sequence[int]) -> Feats:
        """The dense maps of one backbone forward pass, for the local branch.

        Args:
            feats (Sequence[Tensor]): Backbone outputs, as :meth:`neck_inputs`.
            input_hw (Sequence[int]): (H, W) of the input batch (a ViT's patch grid follows from it).

        Returns:
            tuple[Tensor]: One (B, C, h, w) map per output: a ViT's patch tokens on their grid (the extra tokens
            excluded), other backbones' maps as they are.
        """
        if isinstance(self.backbone, VisionTransformer):
            grid = patch_grid_size(self.backbone.patch_embed, input_hw)
            return tuple(patch_tokens_to_map(t, grid, self.backbone.num_extra_tokens) for t in feats)
        if any(f.dim() != 4 for f in feats):
            raise ValueError(f'DINOLocalContrast needs (B, C, h, w) maps from a non-ViT backbone, got shapes '
                             f'{[tuple(f.shape) for f in feats]}')
        return tuple(feats)

    def forward_views_dense(self, backbone: nn.Module, neck: nn.Module, views: List[Tensor]) -> Tuple[Tensor, Feats]:
        """:meth:`DINO.forward_views` (the same batching), plus the dense maps of the first batch of views.

        Args:
            backbone (nn.Module): Student or teacher backbone.
            neck (nn.Module): The matching projection head.
            views (list[Tensor]): V views, each (B, 3, H_v, W_v); the first two of one size.

        Returns:
            tuple: The logits (V, B, K) and the maps of the first run of same-sized views, each (n * B, C, h, w)
            with I_c in rows [0, B) and I_sc in rows [B, 2B).
        """
        logits, dense = [], None
        for _, run in groupby(views, key=lambda view: view.shape):
            batch = torch.cat(list(run))  # (n * B, 3, H, W): n views of one size
            feats = backbone(batch)
            logits.append(neck(self.neck_inputs(feats))[0])  # (n * B, K)
            if dense is None:
                dense = self.dense_maps(feats, batch.shape[-2:])
        return torch.cat(logits).unflatten(0, (len(views), -1)), dense  # (V * B, K) -> (V, B, K)

    def correspondence(self,
                       data_samples: List[DataSample],
                       feat_size: torch.Size,
                       device: torch.device,
                       inverse: bool = False) -> Tensor:
        """The (B, h, w, 2) grid of I_c cells in I_sc (or of I_sc cells in I_c if ``inverse``)."""
        return self.local_branch.correspondence(data_samples, feat_size, device, inverse)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample], **kwargs) -> Dict[str, Tensor]:
        """DINO's loss on all views plus the LC-loss of the teacher on I_c against the student on I_sc.

        ``loss = (1 - alpha) * L_dino + alpha * L_local`` (Eq. 5).

        Args:
            inputs (list[Tensor]): ``[I_c, I_sc, local_1, ..., local_N]``, I_c and I_sc each (B, 3, H, W), the
                local crops (B, 3, h_l, w_l).
            data_samples (list[DataSample]): Each carries ``sc_box``, ``sc_flip``, ``src_shape``.

        Returns:
            dict[str, Tensor]: ``loss_global`` (DINO's loss) and ``loss_local``, already weighted by 1 - alpha and
            alpha, the detached ``teacher_temp`` and the local branch's diagnostics (see :meth:`LocalBranch.loss`).
        """
        if not (isinstance(inputs, list) and len(inputs) >= 2 and inputs[0].shape == inputs[1].shape):
            got = [tuple(v.shape) for v in inputs] if isinstance(inputs, list) else type(inputs).__name__
            raise ValueError(f'DINOLocalContrast expects [I_c, I_sc, local crops...] with I_c and I_sc of one '
                             f'shape, got {got}')
        b = inputs[0].shape[0]
        with torch.no_grad():
            self.teacher.update_parameters(nn.Sequential(self.backbone, self.neck))
            self.local_branch.update_target()
            teacher_backbone, teacher_neck = self.teacher.module
            teacher_logits, teacher_maps = self.forward_views_dense(teacher_backbone, teacher_neck,
                                                                    inputs[:self.num_global_views])  # (2, B, K)
        student_logits, student_maps = self.forward_views_dense(self.backbone, self.neck, inputs)  # (V, B, K)
        loss_dino = self.head.loss(student_logits, teacher_logits)
        # Rows [0, B) of each (n * B, C, h, w) map are I_c's, rows [B, 2B) I_sc's: (B, C, h, w) each.
        target_c, target_sc = tuple(m[:b] for m in teacher_maps), tuple(m[b:2 * b] for m in teacher_maps)
        online_c, online_sc = tuple(m[:b] for m in student_maps), tuple(m[b:2 * b] for m in student_maps)
        loss_local, logs = self.local_branch.loss(
            online_sc, target_c, data_samples, online_c=online_c, target_sc=target_sc)
        return dict(
            loss_global=(1. - self.alpha) * loss_dino,
            loss_local=self.alpha * loss_local,
            teacher_temp=torch.tensor(self.head.teacher_temp, device=loss_dino.device),
            **logs)

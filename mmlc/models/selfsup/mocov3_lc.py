# Copyright (c) mmlc contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models import MoCoV3, VisionTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..utils import effective_rank, embedding_std
from ..utils.tokens import patch_grid_size, patch_tokens_to_map
from .local_branch import LocalBranch, check_alpha

Feats = Tuple[Tensor, ...]


def dense_backbone_config(backbone: dict) -> dict:
    """A backbone config that keeps dense features for LC-loss.

    A ViT (mmpretrain ``VisionTransformer`` or subclass, e.g. ``MoCoV3ViT``) must return its whole token sequence:
    its class token feeds the global projector, its patch tokens the local branch, from one forward pass; an unset
    ``out_type`` becomes ``'raw'``. Any other backbone (e.g. ``ResNet``) is taken as returning (B, C, h, w) maps,
    checked at the first forward: the global projector pools the last one, the local branch reads them as they are.

    Args:
        backbone (dict): Backbone config.

    Returns:
        dict: A ViT config with ``out_type='raw'``; any other config unchanged.

    Raises:
        ValueError: A ViT whose ``out_type`` is set to anything but ``'raw'`` (a pooled output has no patch tokens
            left for LC).
    """
    backbone_cls = MODELS.get(backbone.get('type', ''))
    if not (isinstance(backbone_cls, type) and issubclass(backbone_cls, VisionTransformer)):
        return backbone
    out_type = backbone.get('out_type', 'raw')
    if out_type != 'raw':
        raise ValueError(f'MoCoV3LocalContrast reads the class token and the patch tokens of one forward pass: a ViT '
                         f"backbone must output raw tokens (out_type='raw' or unset), got out_type={out_type!r}")
    return dict(backbone, out_type='raw')


@MODELS.register_module()
class MoCoV3LocalContrast(MoCoV3):
    """MoCo v3 with the local contrastive loss (Islam et al., WACV 2023): mmpretrain's MoCo v3 on a ViT or a ResNet
    plus a :class:`LocalBranch` on the patch tokens or the last-stage map(s).

    Views: ``inputs = [I_c, I_sc]`` (see :class:`~mmlc.datasets.PairedCorrespondenceTransform`). MoCo v3 takes
    ``view_1 = I_c`` (the whole image resized, colour transforms only) and ``view_2 = I_sc`` (a random resized
    crop, maybe flipped, with colour transforms); its loss stays symmetrised over the two:
    ``L_global = ctr(q(I_c), k(I_sc)) + ctr(q(I_sc), k(I_c))``, exactly mmpretrain's. This plug-in therefore
    changes the base method's views: plain MoCo v3 compares two random resized crops (compare with it on its own
    views as well, as the mini study's ``mocov3`` run does).

    Dense features, ViT: the backbone runs once per view with ``out_type='raw'`` (set here when the config leaves
    it unset). Its final LayerNorm acts on the whole sequence before the output is formatted, so the class token of
    the raw output, ``tokens[:, 0]``, is bit for bit what ``out_type='cls_token'`` returns: the global projector
    reads it as in MoCo v3. The patch tokens of the same forward pass, laid out on the patch grid of the input
    (:func:`~mmlc.models.utils.patch_tokens_to_map`; the class token excluded), are the dense features of LC.
    ResNet (or any backbone returning (B, C, h, w) maps): the global projector reads the last map and pools it
    (``with_avg_pool=True``, as in mmpretrain's MoCo v3 ResNet-50 recipe), the local branch reads the map(s) of the
    same forward pass. LC compares the momentum encoder's map of I_c with the online map of I_sc through the known
    correspondence (Eq. 2-4), ``loss = (1 - alpha) * L_global + alpha * L_local`` (Eq. 5). The local target twin
    (``target_local_neck``) is a ``CosineEMA`` with the momentum encoder's start momentum and (cosine to 0)
    schedule, updated at the same step.

    Parameter names of the shared parts are mmpretrain's :class:`MoCoV3` (``backbone``, ``neck``, ``head``,
    ``momentum_encoder``), so a MoCo v3 checkpoint loads with only the local-branch keys (``local_neck``,
    ``target_local_neck``) missing.

    Args:
        backbone (dict): ViT config (``MoCoV3ViT``, or any mmpretrain ``VisionTransformer`` with a class token;
            ``out_type`` must be unset or ``'raw'``), or a backbone that returns (B, C, h, w) maps (``ResNet``).
        neck (dict): Global projector config (reads a ViT's class token, or the last map with
            ``with_avg_pool=True``).
        head (dict): ``MoCoV3Head`` config (predictor + contrastive loss).
        local_neck (dict | list[dict]): Local projector config(s): ``TokenLocalProjectionNeck`` for a ViT,
            ``LocalProjectionNeck`` for a ResNet; each reads backbone output ``in_index`` (a ViT output as its
            (B, C, h, w) patch map).
        local_head (dict): Local loss head config, e.g. ``LCLossHead``.
        alpha (float): Weight of the local loss, in [0, 1]. Defaults to 0.1.
        local_weights (Sequence[float], optional): Weight of each local neck's loss. Defaults to 1 for one neck
            and ``1 / L`` for L necks (several ``out_indices``; the global projector reads the last output).
        symmetric (bool): Also apply LC-loss from I_sc (target) to I_c (online). Defaults to False.
        base_momentum (float): ``CosineEMA`` start momentum (weight of the *new* parameters) of the momentum
            encoder and of the local target twin. Defaults to 0.01 (MoCo v3's 0.99 -> 1).
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
                 base_momentum: float = 0.01,
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
        if isinstance(self.backbone, VisionTransformer) and getattr(self.backbone, 'cls_token', None) is None:
            raise ValueError('MoCoV3LocalContrast reads the class token: the backbone needs with_cls_token=True')
        self.alpha = alpha
        # Registers local_neck, local_head and target_local_neck on this model.
        self.local_branch = LocalBranch(
            self, local_neck, local_head, local_weights=local_weights, symmetric=symmetric, momentum=base_momentum)

    def split_features(self, feats: Sequence[Tensor], input_hw: Sequence[int]) -> Tuple[Tuple[Tensor], Feats]:
        """What the global projector and the local branch read from one backbone forward pass.

        Args:
            feats (Sequence[Tensor]): The backbone's outputs: raw ViT token sequences, each
                (B, num_extra_tokens + h * w, C), or (B, C, h, w) maps.
            input_hw (Sequence[int]): (H, W) of the input batch (a ViT's patch grid (h, w) follows from it).

        Returns:
            tuple: ``(global_in, maps)``. ``global_in`` is a 1-tuple, what the projector reads: a ViT's last class
            token (B, C) (what ``out_type='cls_token'`` returns), or the last map (B, C, h, w), which MoCo v3's
            ResNet projector pools. ``maps`` holds one (B, C, h, w) map per output: a ViT's patch tokens on their
            grid (the extra tokens excluded), other backbones' maps as they are.
        """
        if isinstance(self.backbone, VisionTransformer):
            grid = patch_grid_size(self.backbone.patch_embed, input_hw)
            num_extra = self.backbone.num_extra_tokens
            return (feats[-1][:, 0], ), tuple(patch_tokens_to_map(t, grid, num_extra) for t in feats)
        if any(f.dim() != 4 for f in feats):
            raise ValueError(f'MoCoV3LocalContrast needs (B, C, h, w) maps from a non-ViT backbone, got shapes '
                             f'{[tuple(f.shape) for f in feats]}')
        return (feats[-1], ), tuple(feats)

    def correspondence(self,
                       data_samples: List[DataSample],
                       feat_size: torch.Size,
                       device: torch.device,
                       inverse: bool = False) -> Tensor:
        """The (B, h, w, 2) grid of I_c cells in I_sc (or of I_sc cells in I_c if ``inverse``)."""
        return self.local_branch.correspondence(data_samples, feat_size, device, inverse)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample], **kwargs) -> Dict[str, Tensor]:
        """MoCo v3's symmetrised loss on [I_c, I_sc] plus the local loss on the dense maps (Equation 5).

        Args:
            inputs (list[Tensor]): ``[I_c, I_sc]``, each (B, 3, H, W).
            data_samples (list[DataSample]): Each carries ``sc_box``, ``sc_flip``, ``src_shape``.

        Returns:
            dict[str, Tensor]: ``loss_global`` and ``loss_local`` (already weighted by 1 - alpha and alpha), the
            local branch's detached diagnostics (see :meth:`LocalBranch.loss`) and ``global_std`` /
            ``global_erank`` of the online projections of both views.
        """
        assert isinstance(inputs, list) and len(inputs) == 2, 'expects inputs = [I_c, I_sc]'
        img_c, img_sc = inputs
        # Online branch: one forward per view serves the global (class token / pooled last map) and local heads.
        glob_c, online_c = self.split_features(self.backbone(img_c), img_c.shape[-2:])
        glob_sc, online_sc = self.split_features(self.backbone(img_sc), img_sc.shape[-2:])
        q_c, q_sc = self.neck(glob_c)[0], self.neck(glob_sc)[0]  # (B, D) each
        with torch.no_grad():
            self.momentum_encoder.update_parameters(nn.Sequential(self.backbone, self.neck))
            self.local_branch.update_target()
            target_backbone, target_neck = self.momentum_encoder.module
            target_glob_c, target_c = self.split_features(target_backbone(img_c), img_c.shape[-2:])
            target_glob_sc, target_sc = self.split_features(target_backbone(img_sc), img_sc.shape[-2:])
            k_c, k_sc = target_neck(target_glob_c)[0], target_neck(target_glob_sc)[0]  # (B, D) each

        # Exactly mmpretrain MoCo v3's symmetrised loss, with view_1 = I_c and view_2 = I_sc.
        loss_global = self.head.loss(q_c, k_sc) + self.head.loss(q_sc, k_c)
        loss_local, logs = self.local_branch.loss(
            online_sc, target_c, data_samples, online_c=online_c, target_sc=target_sc)
        projections = torch.cat([q_c, q_sc])  # (2B, D)
        logs.update(global_std=embedding_std(projections), global_erank=effective_rank(projections))
        return dict(loss_global=(1. - self.alpha) * loss_global, loss_local=self.alpha * loss_local, **logs)

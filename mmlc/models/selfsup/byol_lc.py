# Copyright (c) mmlc contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.structures import BaseDataElement
from mmpretrain.models import BYOL
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils import effective_rank, embedding_std
from .local_branch import LocalBranch, check_alpha


class BYOLLocalContrastMixin:
    """What BYOL + LC-loss is, whichever host's ``BYOL`` it extends: the local branch and the loss (Equation 5).

    A host class lists this mixin before the host's ``BYOL`` (which provides ``backbone``, ``neck``, ``head`` and
    ``target_net``, a ``CosineEMA`` of ``nn.Sequential(backbone, neck)``), calls :meth:`init_local_branch` after
    the host's ``__init__`` and implements :meth:`latent_loss`, the one call whose form differs between hosts.
    Every line of math and geometry is here and in :class:`LocalBranch`, shared by mmpretrain's
    :class:`BYOLLocalContrast` and MMSelfSup's (``mmlc.mmselfsup.BYOLLocalContrast``).
    """

    def init_local_branch(self, alpha: float, local_neck: Union[dict, List[dict]], local_head: dict,
                          local_weights: Optional[Sequence[float]], symmetric: bool,
                          new_weight_momentum: float) -> None:
        """Register the local branch on this model.

        Args:
            alpha (float): Weight of the local loss, already checked by :func:`check_alpha`.
            local_neck, local_head, local_weights, symmetric: See :class:`LocalBranch`.
            new_weight_momentum (float): The local target's EMA start momentum as the weight of the *new*
                parameters (mmpretrain's ``CosineEMA`` convention), equal to the global target's schedule.
        """
        self.alpha = alpha
        # Registers local_neck, local_head and target_local_neck on this model.
        self.local_branch = LocalBranch(
            self,
            local_neck,
            local_head,
            local_weights=local_weights,
            symmetric=symmetric,
            momentum=new_weight_momentum)

    def latent_loss(self, online: Tensor, target: Tensor) -> Tensor:
        """The host head's prediction loss of (B, D) online projections against (B, D) target projections."""
        raise NotImplementedError

    def correspondence(self,
                       data_samples: List[BaseDataElement],
                       feat_size: torch.Size,
                       device: torch.device,
                       inverse: bool = False) -> Tensor:
        """The (B, h, w, 2) grid of I_c cells in I_sc (or of I_sc cells in I_c if ``inverse``)."""
        return self.local_branch.correspondence(data_samples, feat_size, device, inverse)

    def loss(self, inputs: List[Tensor], data_samples: List[BaseDataElement], **kwargs) -> Dict[str, Tensor]:
        """Global BYOL loss on [I_c, I_sc] plus the local loss (Equation 5).

        Args:
            inputs (list[Tensor]): ``[I_c, I_sc]``, each (B, 3, H, W).
            data_samples (list[BaseDataElement]): Each carries ``sc_box``, ``sc_flip``, ``src_shape`` (as data
                fields of mmpretrain's ``DataSample`` or as metainfo of MMSelfSup's ``SelfSupDataSample``).

        Returns:
            dict[str, Tensor]: ``loss_global`` and ``loss_local`` (already weighted by 1 - alpha and
            alpha), the local branch's detached diagnostics (see :meth:`LocalBranch.loss`) and the collapse
            diagnostics ``global_std``/``global_erank`` of the online projections of both views, see
            :func:`~mmlc.models.utils.embedding_std` and :func:`~mmlc.models.utils.effective_rank`.
        """
        assert isinstance(inputs, list) and len(inputs) == 2, 'expects inputs = [I_c, I_sc]'
        img_c, img_sc = inputs
        # Online branch: each view's backbone features serve both the global and the local heads.
        online_c, online_sc = self.backbone(img_c), self.backbone(img_sc)  # tuples of (B, C_s, h_s, w_s)
        proj_c, proj_sc = self.neck(online_c[-1:])[0], self.neck(online_sc[-1:])[0]  # (B, D) each
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
            self.local_branch.update_target()
            target_backbone, target_neck = self.target_net.module
            target_c, target_sc = target_backbone(img_c), target_backbone(img_sc)
            target_proj_c, target_proj_sc = target_neck(target_c[-1:])[0], target_neck(target_sc[-1:])[0]  # (B, D)

        # Exactly BYOL's symmetrised loss (both hosts: 2 * (loss(v1 -> v2) + loss(v2 -> v1))).
        loss_global = 2. * (self.latent_loss(proj_c, target_proj_sc) + self.latent_loss(proj_sc, target_proj_c))
        loss_local, logs = self.local_branch.loss(
            online_sc, target_c, data_samples, online_c=online_c, target_sc=target_sc)
        projections = torch.cat([proj_c, proj_sc])  # (2B, D)
        logs.update(global_std=embedding_std(projections), global_erank=effective_rank(projections))
        return dict(loss_global=(1. - self.alpha) * loss_global, loss_local=self.alpha * loss_local, **logs)


@MODELS.register_module()
class BYOLLocalContrast(BYOLLocalContrastMixin, BYOL):
    """BYOL with the local contrastive loss (Islam et al., WACV 2023): mmpretrain's BYOL plus a
    :class:`LocalBranch`.

    ``inputs = [I_c, I_sc]``: I_c is the whole image resized with colour transforms only, I_sc a
    random resized crop, possibly flipped, with colour transforms (see
    :class:`~mmlc.datasets.PairedCorrespondenceTransform`). The global loss is mmpretrain's BYOL loss
    on the two views; the local loss compares the target branch's dense features of I_c with the
    online branch's dense features of I_sc through the known correspondence (Eq. 5):
    ``loss = (1 - alpha) * L_global + alpha * L_local``.

    Parameter names of the shared parts are those of mmpretrain's :class:`BYOL` (``backbone``,
    ``neck``, ``head``, ``target_net``), so a BYOL checkpoint loads with only the local-branch keys
    (``local_neck``, ``target_local_neck``, registered by the branch) missing.

    Beyond the paper (both off by default, see :class:`LocalBranch`): several backbone stages, each with
    its own local neck and weight (``local_neck`` a list; the backbone's ``out_indices`` must produce those
    stages and each neck's ``in_index`` picks its stage from the backbone's output tuple; the global neck
    always reads the last one), and a symmetric LC-loss.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Global projector config.
        head (dict): Global ``LatentPredictHead`` config (predictor + loss).
        local_neck (dict | list[dict]): Local projector config(s), e.g. ``LocalProjectionNeck``.
        local_head (dict): Local loss head config, e.g. ``LCLossHead``.
        alpha (float): Weight of the local loss, in [0, 1]. Defaults to 0.1.
        local_weights (Sequence[float], optional): Weight of each level's local loss; required to
            have one entry per local neck. Defaults to 1 for a single neck and ``1 / L`` for L necks.
        symmetric (bool): Also apply LC-loss from I_sc (target) to I_c (online). Defaults to False.
        base_momentum (float): mmpretrain ``CosineEMA`` momentum (weight of the *new* parameters) of both
            target networks: the paper's EMA 0.996 -> 1 is 0.004. Defaults to 0.004.
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
            backbone=backbone,
            neck=neck,
            head=head,
            base_momentum=base_momentum,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        # mmpretrain's CosineEMA momentum is already the weight of the new parameters.
        self.init_local_branch(alpha, local_neck, local_head, local_weights, symmetric, base_momentum)

    def latent_loss(self, online: Tensor, target: Tensor) -> Tensor:
        """mmpretrain's ``LatentPredictHead.loss``: predictor on ``online``, then the cosine loss."""
        return self.head.loss(online, target)

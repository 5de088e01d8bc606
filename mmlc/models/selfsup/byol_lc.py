# Copyright (c) mmlc contributors. All rights reserved.
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmpretrain.models import BYOL
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..utils import correspondence_grid


@MODELS.register_module()
class BYOLLocalContrast(BYOL):
    """BYOL with the local contrastive loss (Islam et al., WACV 2023).

    ``inputs = [I_c, I_sc]``: I_c is the whole image resized with colour transforms only, I_sc a
    random resized crop, possibly flipped, with colour transforms (see
    :class:`~mmlc.datasets.PairedCorrespondenceTransform`). The global loss is mmpretrain's BYOL loss
    on the two views; the local loss compares the target branch's dense features of I_c with the
    online branch's dense features of I_sc through the known correspondence (Eq. 5):
    ``loss = (1 - alpha) * L_global + alpha * L_local``.

    Parameter names of the shared parts are those of mmpretrain's :class:`BYOL` (``backbone``,
    ``neck``, ``head``, ``target_net``), so a BYOL checkpoint loads with only the local-branch keys
    (``local_neck``, ``target_local_neck``) missing.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Global projector config.
        head (dict): Global ``LatentPredictHead`` config (predictor + loss).
        local_neck (dict): Local projector config, e.g. ``LocalProjectionNeck``.
        local_head (dict): Local loss head config, e.g. ``LCLossHead``.
        alpha (float): Weight of the local loss, in [0, 1]. Defaults to 0.1.
        base_momentum (float): mmpretrain ``CosineEMA`` momentum (weight of the *new* parameters):
            the paper's EMA 0.996 -> 1 is 0.004. Defaults to 0.004.
        pretrained (str, optional): Checkpoint to load. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict or list[dict], optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 local_neck: dict,
                 local_head: dict,
                 alpha: float = 0.1,
                 base_momentum: float = 0.004,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
            raise ValueError(f'alpha must be a number in [0, 1], got {alpha!r}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            base_momentum=base_momentum,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.alpha = float(alpha)
        self.local_neck = MODELS.build(local_neck)
        self.local_head = MODELS.build(local_head)
        self.target_local_neck = CosineEMA(self.local_neck, momentum=base_momentum)

    @staticmethod
    def correspondence(data_samples: List[DataSample], feat_size: torch.Size,
                       device: torch.device) -> Tensor:
        """Build the (B, h, w, 2) I_c -> I_sc grid from the transform's records in the samples."""
        sc_box = torch.stack([torch.as_tensor(s.sc_box, dtype=torch.float32) for s in data_samples])
        sc_flip = torch.as_tensor([bool(s.sc_flip) for s in data_samples])
        src_shape = torch.stack([torch.as_tensor(s.src_shape[:2]) for s in data_samples])
        return correspondence_grid(sc_box, sc_flip, src_shape, feat_size).to(device)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Global BYOL loss on [I_c, I_sc] plus the local loss (Eq. 5).

        Args:
            inputs (list[Tensor]): ``[I_c, I_sc]``, each (B, 3, H, W).
            data_samples (list[DataSample]): Each carries ``sc_box``, ``sc_flip``, ``src_shape``.

        Returns:
            dict[str, Tensor]: ``loss_global`` and ``loss_local`` (already weighted) and the detached
            diagnostic ``lc_valid_ratio`` (fraction of I_c cells whose point lies inside I_sc).
        """
        assert isinstance(inputs, list) and len(inputs) == 2, 'expects inputs = [I_c, I_sc]'
        img_c, img_sc = inputs
        # Online branch: each view's backbone features serve both the global and the local head.
        feat_c, feat_sc = self.backbone(img_c), self.backbone(img_sc)
        proj_c, proj_sc = self.neck(feat_c)[0], self.neck(feat_sc)[0]  # (B, 256)
        local_sc = self.local_neck(feat_sc)[0]  # (B, C_l, Ho, Wo)
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
            self.target_local_neck.update_parameters(self.local_neck)
            target_backbone, target_neck = self.target_net.module
            target_feat_c = target_backbone(img_c)
            target_proj_c = target_neck(target_feat_c)[0]  # (B, 256)
            target_proj_sc = self.target_net(img_sc)[0]  # (B, 256)
            target_local_c = self.target_local_neck(target_feat_c)[0]  # (B, C_l, Ht, Wt)

        # Exactly mmpretrain BYOL's symmetrised loss.
        loss_global = 2. * (self.head.loss(proj_c, target_proj_sc) + self.head.loss(proj_sc, target_proj_c))
        grid = self.correspondence(data_samples, target_local_c.shape[-2:], target_local_c.device)
        loss_local = self.local_head.loss(target_local_c, local_sc, grid)
        valid_ratio = ((grid.abs() <= 1).all(-1)).float().mean()
        return dict(
            loss_global=(1. - self.alpha) * loss_global,
            loss_local=self.alpha * loss_local,
            lc_valid_ratio=valid_ratio.detach())

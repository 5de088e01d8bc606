# Copyright (c) mmlc contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models import BYOL
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..losses.local_losses import valid_and_safe_grid
from ..utils import correspondence_grid, effective_rank, embedding_std, inverse_correspondence_grid


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

    Beyond the paper (both off by default): several backbone stages, each with its own local neck
    and weight (``local_neck`` a list; the backbone's ``out_indices`` must produce those stages and
    each neck's ``in_index`` picks its stage from the backbone's output tuple; the global neck always
    reads the last one), and a symmetric LC-loss that adds the target branch on I_sc against the
    online branch on I_c through the inverse correspondence, averaging the two directions.

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
                 local_neck: Union[dict, List[dict]],
                 local_head: dict,
                 alpha: float = 0.1,
                 local_weights: Optional[Sequence[float]] = None,
                 symmetric: bool = False,
                 base_momentum: float = 0.004,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 <= alpha <= 1):
            raise ValueError(f'alpha must be a number in [0, 1], got {alpha!r}')
        necks = list(local_neck) if isinstance(local_neck, (list, tuple)) else [local_neck]
        if not necks:
            raise ValueError('local_neck must be a config or a non-empty list of configs')
        if local_weights is None:
            local_weights = [1. / len(necks)] * len(necks)
        if len(local_weights) != len(necks) or any(not (w >= 0) for w in local_weights):
            raise ValueError(f'local_weights must hold one non-negative weight per local neck '
                             f'({len(necks)}), got {local_weights!r}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            base_momentum=base_momentum,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.alpha = float(alpha)
        self.local_weights = [float(w) for w in local_weights]
        self.symmetric = bool(symmetric)
        # One neck keeps the plain `local_neck.*` parameter names; several become `local_neck.<level>.*`.
        self.local_neck = (MODELS.build(necks[0]) if len(necks) == 1 else
                           nn.ModuleList(MODELS.build(cfg) for cfg in necks))
        self.local_head = MODELS.build(local_head)
        self.target_local_neck = CosineEMA(self.local_neck, momentum=base_momentum)

    def _levels(self) -> List[Tuple[nn.Module, nn.Module, float]]:
        """(online neck, target neck, weight) for each local level."""
        online, target = self.local_neck, self.target_local_neck.module
        if not isinstance(online, nn.ModuleList):
            online, target = [online], [target]
        return list(zip(online, target, self.local_weights))

    @staticmethod
    def _records(data_samples: List[DataSample]) -> Tuple[Tensor, Tensor, Tensor]:
        sc_box = torch.stack([torch.as_tensor(s.sc_box, dtype=torch.float32) for s in data_samples])
        sc_flip = torch.as_tensor([bool(s.sc_flip) for s in data_samples])
        src_shape = torch.stack([torch.as_tensor(s.src_shape[:2]) for s in data_samples])
        return sc_box, sc_flip, src_shape

    @staticmethod
    def _grid(records: Tuple[Tensor, Tensor, Tensor], feat_size: torch.Size, device: torch.device,
              inverse: bool = False) -> Tensor:
        fn = inverse_correspondence_grid if inverse else correspondence_grid
        return fn(*records, feat_size).to(device)

    def correspondence(self, data_samples: List[DataSample], feat_size: torch.Size, device: torch.device,
                       inverse: bool = False) -> Tensor:
        """The (B, h, w, 2) grid of I_c cells in I_sc (or of I_sc cells in I_c if ``inverse``)."""
        return self._grid(self._records(data_samples), feat_size, device, inverse)

    def _direction_loss(self, online_neck: nn.Module, target_neck: nn.Module, online_feats: Tuple[Tensor, ...],
                        target_feats: Tuple[Tensor, ...], records: Tuple[Tensor, Tensor, Tensor],
                        inverse: bool) -> Tuple[Tensor, Tensor, Tensor]:
        """LC-loss of the target branch on one view against the online branch on the other, its grid and the
        online local embeddings.

        ``inverse=False``: target on I_c, online on I_sc (the paper's direction); ``True``: the reverse.
        """
        online = online_neck(online_feats)[0]  # (B, C_l, Ho, Wo)
        with torch.no_grad():
            target = target_neck(target_feats)[0]  # (B, C_l, Ht, Wt)
        grid = self._grid(records, target.shape[-2:], target.device, inverse)  # (B, Ht, Wt, 2)
        return self.local_head.loss(target, online, grid), grid, online

    def local_loss(self, online_feats: Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]],
                   target_feats: Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]],
                   data_samples: List[DataSample]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Weighted sum over levels of the LC-loss (Eq. 2-4), and per-level detached diagnostics.

        Args:
            online_feats: Online backbone outputs for (I_c, I_sc), each a tuple of (B, C_s, h_s, w_s).
            target_feats: Target backbone outputs for (I_c, I_sc), likewise.
            data_samples (list[DataSample]): Each carries ``sc_box``, ``sc_flip``, ``src_shape``.

        Returns:
            tuple: the unweighted-by-alpha local loss (scalar) and a dict of diagnostics.
        """
        total, logs = 0., {}
        records = self._records(data_samples)  # built once for every level and direction
        for level, (online_neck, target_neck, weight) in enumerate(self._levels()):
            loss, grid, online = self._direction_loss(online_neck, target_neck, online_feats[1], target_feats[0],
                                                      records, inverse=False)
            if self.symmetric:
                reverse, _, _ = self._direction_loss(online_neck, target_neck, online_feats[0], target_feats[1],
                                                     records, inverse=True)
                loss = 0.5 * (loss + reverse)
            total = total + weight * loss
            suffix = '' if len(self.local_weights) == 1 else f'_level{level}'
            logs[f'lc_valid_ratio{suffix}'] = valid_and_safe_grid(grid)[0].float().mean().detach()
            cells = online.permute(0, 2, 3, 1).flatten(0, 2)  # (B*Ho*Wo, C_l): one embedding per cell
            logs[f'local_std{suffix}'], logs[f'local_erank{suffix}'] = embedding_std(cells), effective_rank(cells)
            if suffix:
                logs[f'lc{suffix}'] = loss.detach()
        return total, logs

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Global BYOL loss on [I_c, I_sc] plus the local loss (Eq. 5).

        Args:
            inputs (list[Tensor]): ``[I_c, I_sc]``, each (B, 3, H, W).
            data_samples (list[DataSample]): Each carries ``sc_box``, ``sc_flip``, ``src_shape``.

        Returns:
            dict[str, Tensor]: ``loss_global`` and ``loss_local`` (already weighted by 1 - alpha and
            alpha) and detached diagnostics without "loss" in their names: ``lc_valid_ratio`` (the
            fraction of I_c cells whose point lies inside I_sc) and the collapse diagnostics
            ``global_std``/``global_erank`` (online projections of both views) and ``local_std``/``local_erank``
            (online local embeddings of I_sc's cells), see :func:`~mmlc.models.utils.embedding_std` and
            :func:`~mmlc.models.utils.effective_rank`.
        """
        assert isinstance(inputs, list) and len(inputs) == 2, 'expects inputs = [I_c, I_sc]'
        img_c, img_sc = inputs
        # Online branch: each view's backbone features serve both the global and the local heads.
        online_feats = (self.backbone(img_c), self.backbone(img_sc))
        proj_c, proj_sc = (self.neck(f[-1:])[0] for f in online_feats)  # (B, D) each
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
            self.target_local_neck.update_parameters(self.local_neck)
            target_backbone, target_neck = self.target_net.module
            target_feats = (target_backbone(img_c), target_backbone(img_sc))
            target_proj_c, target_proj_sc = (target_neck(f[-1:])[0] for f in target_feats)  # (B, D) each

        # Exactly mmpretrain BYOL's symmetrised loss.
        loss_global = 2. * (self.head.loss(proj_c, target_proj_sc) + self.head.loss(proj_sc, target_proj_c))
        loss_local, logs = self.local_loss(online_feats, target_feats, data_samples)
        projections = torch.cat([proj_c, proj_sc])  # (2B, D)
        logs.update(global_std=embedding_std(projections), global_erank=effective_rank(projections))
        return dict(loss_global=(1. - self.alpha) * loss_global, loss_local=self.alpha * loss_local, **logs)

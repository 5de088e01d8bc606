# Copyright (c) mmlc contributors. All rights reserved.
from typing import List, Optional, Sequence, Union

from mmselfsup.models.algorithms import BYOL
from mmselfsup.registry import MODELS
from torch import Tensor

from ..models.selfsup.byol_lc import BYOLLocalContrastMixin
from ..models.selfsup.local_branch import check_alpha


@MODELS.register_module()
class BYOLLocalContrast(BYOLLocalContrastMixin, BYOL):
    """BYOL + LC-loss (Islam et al., WACV 2023) on MMSelfSup 1.0.0's ``BYOL``.

    The loss, the local branch and the correspondence are those of mmpretrain's
    :class:`mmlc.models.BYOLLocalContrast` (both come from :class:`BYOLLocalContrastMixin`); this class only
    adapts what differs between the hosts:

    - MMSelfSup's ``LatentPredictHead`` is called as ``self.head(online, target)`` (mmpretrain's as
      ``self.head.loss``);
    - ``base_momentum`` follows MMSelfSup's ``CosineEMA``: the weight of the *old* parameters, annealed to 1
      (the paper's 0.996 -> 1 is ``base_momentum=0.996``; in mmpretrain the same schedule is 0.004 -> 0). The
      local target is mmpretrain's ``CosineEMA`` with ``1 - base_momentum``, the same schedule;
    - the crop records arrive as metainfo of ``SelfSupDataSample``
      (``PackSelfSupInputs(meta_keys=['sc_box', 'sc_flip', 'src_shape'])``: MMSelfSup's packer rejects other
      ``algorithm_keys``).

    The state dicts of the two hosts' models have the same keys and shapes: a checkpoint of one loads
    strictly into the other (``docs/mmselfsup.md``).

    Args:
        backbone (dict): Backbone config.
        neck (dict): Global projector config.
        head (dict): Global ``LatentPredictHead`` config (predictor + loss).
        local_neck (dict | list[dict]): Local projector config(s), e.g. ``LocalProjectionNeck``.
        local_head (dict): Local loss head config, e.g. ``LCLossHead``.
        alpha (float): Weight of the local loss, in [0, 1]. Defaults to 0.1.
        local_weights (Sequence[float], optional): Weight of each level's local loss. See
            :class:`~mmlc.models.LocalBranch`.
        symmetric (bool): Also apply LC-loss from I_sc (target) to I_c (online). Defaults to False.
        base_momentum (float): MMSelfSup ``CosineEMA`` start momentum (weight of the *old* parameters) of both
            target networks. Defaults to 0.996, the paper's.
        pretrained (str, optional): Checkpoint to load. Defaults to None.
        data_preprocessor (dict, optional): Defaults to MMSelfSup's ``SelfSupDataPreprocessor``.
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
                 base_momentum: float = 0.996,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        alpha = check_alpha(alpha)  # before the base class builds anything
        if not (isinstance(base_momentum, (int, float)) and 0 <= base_momentum <= 1):
            raise ValueError(f'base_momentum must be a number in [0, 1], got {base_momentum!r}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            base_momentum=base_momentum,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        # MMSelfSup's momentum is the weight of the old parameters; the local target's, of the new ones.
        self.init_local_branch(alpha, local_neck, local_head, local_weights, symmetric, 1. - base_momentum)

    def latent_loss(self, online: Tensor, target: Tensor) -> Tensor:
        """MMSelfSup's ``LatentPredictHead.forward``: predictor on ``online``, then the cosine loss."""
        return self.head(online, target)

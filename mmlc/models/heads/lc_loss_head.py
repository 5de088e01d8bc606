# Copyright (c) mmlc contributors. All rights reserved.
from typing import Optional

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from ..losses import check_lc_options, local_contrastive_loss, local_mse_loss
from ..losses.local_losses import DEFAULT_CHUNK


@MODELS.register_module()
class LCLossHead(BaseModule):
    """Holds the local loss' hyper-parameters and calls the pure loss function.

    Args:
        tau (float): Temperature of the local contrastive loss. Defaults to 0.2.
        loss_type (str): ``'contrastive'`` for the paper's LC-loss (Eq. 2-4) or ``'mse'`` for the
            Table 6 ablation "BYOL + Local MSE loss". Defaults to ``'contrastive'``.
        impl (str): LC-loss implementation, ``'auto'``, ``'naive'`` or ``'lean'`` (see
            :func:`~mmlc.models.losses.local_contrastive_loss`). Defaults to ``'auto'``.
        chunk_size (int): The lean path's buffer holds ``B * chunk_size`` rows of similarities. Defaults to 16.
        init_cfg (dict, optional): Unused (the head has no parameters). Defaults to None.
    """

    LOSS_TYPES = ('contrastive', 'mse')

    def __init__(self,
                 tau: float = 0.2,
                 loss_type: str = 'contrastive',
                 impl: str = 'auto',
                 chunk_size: int = DEFAULT_CHUNK,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if loss_type not in self.LOSS_TYPES:
            raise ValueError(f'loss_type must be one of {self.LOSS_TYPES}, got {loss_type!r}')
        check_lc_options(tau, impl, chunk_size)
        self.tau = float(tau)
        self.loss_type = loss_type
        self.impl = impl
        self.chunk_size = chunk_size

    def loss(self, target: Tensor, online: Tensor, grid: Tensor) -> Tensor:
        """Compute the local loss.

        Args:
            target (Tensor): (B, C, Ht, Wt) target-branch features of I_c (detached by the caller).
            online (Tensor): (B, C, Ho, Wo) online-branch features of I_sc.
            grid (Tensor): (B, Ht, Wt, 2) points of I_c's cell centres in I_sc.

        Returns:
            Tensor: scalar fp32 loss.
        """
        if self.loss_type == 'mse':
            return local_mse_loss(target, online, grid)
        return local_contrastive_loss(target, online, grid, tau=self.tau, impl=self.impl, chunk_size=self.chunk_size)

    def extra_repr(self) -> str:
        return f'tau={self.tau}, loss_type={self.loss_type!r}, impl={self.impl!r}'

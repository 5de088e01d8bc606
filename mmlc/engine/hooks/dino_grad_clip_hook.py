# Copyright (c) mmlc contributors. All rights reserved.
from typing import Iterable, List

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle

from .dino_freeze_last_layer_hook import optim_wrappers_of


@torch.no_grad()
def clip_grad_per_param_(params: Iterable[torch.Tensor], max_norm: float, eps: float = 1e-6) -> None:
    """Scale each gradient tensor on its own so that its l2 norm is at most about ``max_norm``:
    ``g <- g * min(1, max_norm / (||g|| + eps))`` (DINO's clipping; ``clip_grad_norm_`` instead scales all
    gradients by one factor from their joint norm). In place; parameters without a gradient are skipped.

    Args:
        params (Iterable[Tensor]): Parameters whose ``.grad`` to clip.
        max_norm (float): Largest norm of each gradient tensor, > 0.
        eps (float): Added to the norm. Defaults to 1e-6.
    """
    for param in params:
        if param.grad is not None:
            coef = (max_norm / (param.grad.norm(2) + eps)).clamp(max=1.)  # a tensor: no host sync
            param.grad.mul_(coef)


@HOOKS.register_module()
class DINOGradClipHook(Hook):
    """DINO's gradient clipping: every gradient tensor of the optimiser's parameters clipped to norm
    ``max_norm`` on its own (:func:`clip_grad_per_param_`), just before each optimiser step.

    mmengine's ``optim_wrapper.clip_grad`` offers only joint-norm or per-value clipping, so this runs as a
    step pre-hook on the optimiser instead (under ``AmpOptimWrapper`` the loss scaler has unscaled the
    gradients by then, and a step it skips for overflow is not clipped). It refuses to run beside
    ``optim_wrapper.clip_grad``.

    Args:
        max_norm (float): Largest l2 norm of each gradient tensor, > 0. DINO uses 3.0. Defaults to 3.0.
    """

    priority = 'NORMAL'

    def __init__(self, max_norm: float = 3.0) -> None:
        if not max_norm > 0:
            raise ValueError(f'max_norm must be > 0, got {max_norm!r}')
        self.max_norm = float(max_norm)
        self._handles: List[RemovableHandle] = []

    def before_train(self, runner) -> None:
        wrappers = optim_wrappers_of(runner)
        for wrapper in wrappers:
            if getattr(wrapper, 'clip_grad_kwargs', None):
                raise ValueError('DINOGradClipHook clips each gradient tensor itself; remove optim_wrapper.clip_grad '
                                 f'({wrapper.clip_grad_kwargs}), which would clip their joint norm as well')
        self._handles = [wrapper.optimizer.register_step_pre_hook(self._clip) for wrapper in wrappers]

    def _clip(self, optimizer: Optimizer, args, kwargs) -> None:
        clip_grad_per_param_((p for group in optimizer.param_groups for p in group['params']), self.max_norm)

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

# Copyright (c) mmlc contributors. All rights reserved.
from operator import attrgetter
from typing import List, Optional, Union

from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model
from torch import nn
from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle


def optim_wrappers_of(runner) -> List[OptimWrapper]:
    """The Runner's optimiser wrapper, or each one of an ``OptimWrapperDict``."""
    wrapper = runner.optim_wrapper
    return list(wrapper.values()) if isinstance(wrapper, OptimWrapperDict) else [wrapper]


def check_by_epoch(runner, by_epoch: bool, hook: str) -> None:
    """Refuse an epoch-counted schedule in an iteration-based run, where ``runner.epoch`` stays 0 for ever."""
    if by_epoch and isinstance(getattr(runner, 'train_loop', None), IterBasedTrainLoop):
        raise ValueError(f'{hook} counts epochs (by_epoch=True) but the run is iteration-based '
                         f'(IterBasedTrainLoop), where the epoch never advances; set by_epoch=False')


@HOOKS.register_module()
class DINOFreezeLastLayerHook(Hook):
    """Keep DINO's last layer (the prototypes) fixed for the first ``freeze`` epochs (or iterations).

    As in DINO's reference training, the gradients are computed (and all-reduced under DDP) as usual and then
    dropped just before the optimiser step (``p.grad = None``, so the optimiser skips those parameters entirely:
    no update, no weight decay, no optimiser state), through a step pre-hook on the optimiser; toggling
    ``requires_grad`` instead would break DDP's gradient bookkeeping.

    Args:
        freeze (int): Epochs (iterations with ``by_epoch=False``) during which the layer stays fixed, >= 0.
            Defaults to 1.
        by_epoch (bool): Count epochs or iterations. Defaults to True.
        module (str): Attribute path of the layer in the model. Defaults to 'neck.last_layer'.
    """

    priority = 'NORMAL'

    def __init__(self, freeze: int = 1, by_epoch: bool = True, module: str = 'neck.last_layer') -> None:
        if not (isinstance(freeze, int) and freeze >= 0):
            raise ValueError(f'freeze must be an int >= 0, got {freeze!r}')
        self.freeze = freeze
        self.by_epoch = by_epoch
        self.module = module
        self.frozen = False
        self._params: List[nn.Parameter] = []
        self._handles: List[RemovableHandle] = []

    def before_train(self, runner) -> None:
        check_by_epoch(runner, self.by_epoch, type(self).__name__)
        layer = attrgetter(self.module)(get_ori_model(runner.model))
        self._params = [p for p in layer.parameters() if p.requires_grad]
        self._handles = [w.optimizer.register_step_pre_hook(self._drop_grads) for w in optim_wrappers_of(runner)]

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[Union[dict, tuple, list]] = None) -> None:
        self.frozen = (runner.epoch if self.by_epoch else runner.iter) < self.freeze

    def _drop_grads(self, optimizer: Optimizer, args, kwargs) -> None:
        if self.frozen:
            for param in self._params:
                param.grad = None

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

# Copyright (c) mmlc contributors. All rights reserved.
from operator import attrgetter
from typing import Optional, Union

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from .dino_freeze_last_layer_hook import check_by_epoch


def teacher_temp_schedule(step: int, warmup_temp: float, temp: float, warmup: int) -> float:
    """DINO's teacher temperature at an epoch (or iteration): a linear warm-up from ``warmup_temp`` reaching
    ``temp`` at step ``warmup - 1`` (``numpy.linspace(warmup_temp, temp, warmup)[step]``), then ``temp``.

    Args:
        step (int): The 0-based epoch (or iteration), >= 0.
        warmup_temp (float): Temperature at step 0.
        temp (float): Temperature from step ``warmup - 1`` on.
        warmup (int): Length of the warm-up, >= 0 (0: ``temp`` throughout).

    Returns:
        float: The temperature.
    """
    if step < 0:
        raise ValueError(f'step must be >= 0, got {step}')
    if step >= warmup:
        return float(temp)
    if warmup == 1:
        return float(warmup_temp)
    return warmup_temp + (temp - warmup_temp) * step / (warmup - 1)


@HOOKS.register_module()
class DINOTeacherTempHook(Hook):
    """Set the DINO head's teacher temperature before every training iteration from
    :func:`teacher_temp_schedule` of the current epoch (or iteration with ``by_epoch=False``).

    The value is a function of the Runner's counters only, so a resumed run carries on where it stopped.

    Args:
        warmup_temp (float): Temperature at the start of the warm-up. Defaults to 0.04.
        temp (float): Temperature after the warm-up. Defaults to 0.04.
        warmup (int): Warm-up length in epochs (iterations with ``by_epoch=False``). Defaults to 0.
        by_epoch (bool): Count epochs (DINO's choice: constant within an epoch) or iterations. Defaults to True.
        head (str): Attribute path of the head in the model. Defaults to 'head'.
    """

    priority = 'NORMAL'

    def __init__(self,
                 warmup_temp: float = 0.04,
                 temp: float = 0.04,
                 warmup: int = 0,
                 by_epoch: bool = True,
                 head: str = 'head') -> None:
        if not (warmup_temp > 0 and temp > 0):
            raise ValueError(f'temperatures must be > 0, got warmup_temp={warmup_temp!r}, temp={temp!r}')
        if not (isinstance(warmup, int) and warmup >= 0):
            raise ValueError(f'warmup must be an int >= 0, got {warmup!r}')
        self.warmup_temp, self.temp, self.warmup = float(warmup_temp), float(temp), warmup
        self.by_epoch = by_epoch
        self.head = head

    def before_train(self, runner) -> None:
        check_by_epoch(runner, self.by_epoch, type(self).__name__)

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[Union[dict, tuple, list]] = None) -> None:
        step = runner.epoch if self.by_epoch else runner.iter
        head = attrgetter(self.head)(get_ori_model(runner.model))
        head.teacher_temp = teacher_temp_schedule(step, self.warmup_temp, self.temp, self.warmup)

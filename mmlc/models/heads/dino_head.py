# Copyright (c) mmlc contributors. All rights reserved.
import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from ..losses.dino_loss import dino_center_update, dino_cross_entropy, dino_teacher_probs


@MODELS.register_module()
class DINOHead(BaseModule):
    """DINO's loss head: teacher centring and sharpening, student temperature, multi-crop cross-entropy.

    Holds the running centre ``c`` (a buffer, so it is saved, resumed and broadcast with the model) and the
    temperatures; the projection MLP and the prototypes are the neck (:class:`~mmlc.models.DINONeck`).
    ``teacher_temp`` is an attribute that :class:`~mmlc.engine.DINOTeacherTempHook` sets before each iteration
    for the warm-up; without that hook it stays at its initial value.

    Args:
        out_channels (int): Number of prototypes K (the neck's ``out_channels``).
        student_temp (float): Student temperature tau_s. Defaults to 0.1.
        teacher_temp (float): Teacher temperature tau_t. Defaults to 0.04.
        center_momentum (float): Centre EMA momentum m (weight of the old centre), in [0, 1). Defaults to 0.9.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 out_channels: int,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 center_momentum: float = 0.9,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (isinstance(out_channels, int) and out_channels > 0):
            raise ValueError(f'out_channels must be a positive int, got {out_channels!r}')
        for name, value in (('student_temp', student_temp), ('teacher_temp', teacher_temp)):
            if not value > 0:
                raise ValueError(f'{name} must be > 0, got {value!r}')
        if not 0 <= center_momentum < 1:
            raise ValueError(f'center_momentum must be in [0, 1), got {center_momentum!r}')
        self.student_temp = float(student_temp)
        self.teacher_temp = float(teacher_temp)
        self.center_momentum = float(center_momentum)
        self.register_buffer('center', torch.zeros(1, out_channels))

    def loss(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        """The DINO loss against the current centre, then the centre update (Algorithm 1's order).

        Args:
            student_logits (Tensor): Student outputs of all views, (V, B, K), the teacher's views first.
            teacher_logits (Tensor): Teacher outputs of the global views, (G, B, K).

        Returns:
            Tensor: The scalar loss.
        """
        probs = dino_teacher_probs(teacher_logits, self.center, self.teacher_temp)  # (G, B, K)
        loss = dino_cross_entropy(student_logits, probs, self.student_temp)
        self.update_center(teacher_logits)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_logits: Tensor) -> None:
        """Move the centre towards the mean teacher output over all processes' batches and the teacher views.

        Args:
            teacher_logits (Tensor): (G, B, K).
        """
        batch_sum = teacher_logits.float().flatten(0, 1).sum(dim=0, keepdim=True)  # (1, K)
        all_reduce(batch_sum)  # sum over processes; nothing in one process
        batch_mean = batch_sum / (teacher_logits.shape[0] * teacher_logits.shape[1] * get_world_size())
        self.center.copy_(dino_center_update(self.center, batch_mean, self.center_momentum))

# Copyright (c) mmlc contributors. All rights reserved.
"""DINO's self-distillation loss (Caron et al., ICCV 2021, §3.1 and Algorithm 1) as pure tensor functions."""

import torch
import torch.nn.functional as F
from torch import Tensor


def dino_teacher_probs(teacher_logits: Tensor, center: Tensor, teacher_temp: float) -> Tensor:
    """Centred and sharpened teacher distribution ``P_t = softmax((g_t(x) - c) / tau_t)``.

    Args:
        teacher_logits (Tensor): Teacher outputs, (..., K).
        center (Tensor): The running centre c, broadcastable to ``teacher_logits``, e.g. (1, K).
        teacher_temp (float): Teacher temperature tau_t > 0.

    Returns:
        Tensor: Probabilities over the K prototypes, same shape as ``teacher_logits``, in float32.
    """
    return F.softmax((teacher_logits.float() - center) / teacher_temp, dim=-1)


def dino_cross_entropy(student_logits: Tensor, teacher_probs: Tensor, student_temp: float) -> Tensor:
    """DINO's multi-crop loss: ``H(P_t(x_i), P_s(x_j))`` averaged over every pair of a teacher view i and a
    different student view j (Eq. 3), each term averaged over the batch.

    Teacher view i and student view i are the same crop, so the pair (i, i) is skipped: with G teacher views and
    V student views (the G teacher views first) there are ``G * (V - 1)`` terms.

    Args:
        student_logits (Tensor): Student outputs, (V, B, K): V views of the same B images.
        teacher_probs (Tensor): Teacher distributions of the first G views, (G, B, K), G <= V
            (see :func:`dino_teacher_probs`); no gradient flows into them.
        student_temp (float): Student temperature tau_s > 0.

    Returns:
        Tensor: The scalar loss, in float32.
    """
    num_views, num_teacher = student_logits.shape[0], teacher_probs.shape[0]
    if num_views < 2 or not 1 <= num_teacher <= num_views:
        raise ValueError(f'need V >= 2 student views and 1 <= G <= V teacher views, got V={num_views}, '
                         f'G={num_teacher}')
    log_p_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)  # (V, B, K)
    teacher_probs = teacher_probs.detach().float()
    # Element-wise products and sums rather than one (G, V) matmul: autocast would run a matmul in half precision.
    terms = [
        -(teacher_probs[i] * log_p_s[j]).sum(dim=-1).mean()  # (B, K) -> scalar
        for i in range(num_teacher) for j in range(num_views) if j != i
    ]
    return torch.stack(terms).mean()


def dino_center_update(center: Tensor, batch_mean: Tensor, momentum: float) -> Tensor:
    """EMA of the teacher outputs' batch mean (Equation 4): ``c <- m * c + (1 - m) * mean_b g_t(x_b)``.

    Args:
        center (Tensor): The current centre, (1, K).
        batch_mean (Tensor): Mean of the teacher outputs over the (global) batch and the teacher views, (1, K).
        momentum (float): The centre momentum m in [0, 1].

    Returns:
        Tensor: The new centre, (1, K).
    """
    return center * momentum + batch_mean * (1. - momentum)

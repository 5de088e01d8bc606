# Copyright (c) mmlc contributors. All rights reserved.
"""Collapse diagnostics of embeddings: what a user checks first when a self-supervised run goes wrong.

Both work on the L2-normalised embeddings the losses see. A collapsed run (every input mapped to one vector)
shows ``embedding_std`` at 0 and ``effective_rank`` at 1.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def _normalised(z: Tensor) -> Tensor:
    """(N, D) rows scaled to unit length, in fp32 (diagnostics only: no gradient is needed)."""
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f'expects (N, D) embeddings with N >= 2, got {tuple(z.shape)}')
    return F.normalize(z.detach().float(), dim=1)


def embedding_std(z: Tensor) -> Tensor:
    """Mean over dimensions of the per-dimension standard deviation of L2-normalised embeddings.

    SimSiam's collapse indicator (Chen & He, 2021, §4.1): about ``1 / sqrt(D)`` when the unit vectors are
    spread out, 0 when every input gives the same vector.

    Args:
        z (Tensor): (N, D) embeddings.

    Returns:
        Tensor: Scalar, fp32 (population std over the N samples).
    """
    return _normalised(z).std(dim=0, unbiased=False).mean()


def effective_rank(z: Tensor, eps: float = 1e-12) -> Tensor:
    """Effective rank of L2-normalised embeddings: ``exp(H(p))`` with ``p_k = s_k / sum(s)`` over the singular
    values ``s`` of the (N, D) matrix (Roy & Vetterli, 2007; RankMe, Garrido et al., 2023).

    Between 1 (all rows parallel: collapse) and ``min(N, D)`` (all singular values equal).

    Args:
        z (Tensor): (N, D) embeddings.
        eps (float): Guards ``log(0)`` for zero singular values. Defaults to 1e-12.

    Returns:
        Tensor: Scalar, fp32.
    """
    s = torch.linalg.svdvals(_normalised(z))  # (min(N, D),)
    p = s / s.sum().clamp_min(eps)
    return torch.exp(-(p * torch.log(p.clamp_min(eps))).sum())

# Copyright (c) mmlc contributors. All rights reserved.
"""Collapse diagnostics against hand-worked cases and a naive reference."""

import math

import pytest
import torch

from mmlc.models.utils import effective_rank, embedding_std


def _naive_std(z):
    """Per-dimension population std of the unit-length rows, averaged over dimensions, with loops."""
    rows = [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in z.tolist()]
    n, d = len(rows), len(rows[0])
    stds = []
    for j in range(d):
        mean = sum(r[j] for r in rows) / n
        stds.append(math.sqrt(sum((r[j] - mean)**2 for r in rows) / n))
    return sum(stds) / d


def test_std_of_collapsed_embeddings_is_zero():
    z = torch.tensor([[3., 4.], [6., 8.], [0.3, 0.4]])  # one direction at three lengths
    assert embedding_std(z).item() == pytest.approx(0., abs=1e-7)


def test_std_by_hand():
    # Unit rows e1 and -e1: dimension 0 takes +1 and -1 (std 1), dimension 1 is 0 (std 0): mean 0.5.
    z = torch.tensor([[2., 0.], [-5., 0.]])
    assert embedding_std(z).item() == pytest.approx(0.5)


def test_std_against_naive():
    z = torch.randn(37, 11)
    assert embedding_std(z).item() == pytest.approx(_naive_std(z), rel=1e-5)


def test_effective_rank_by_hand():
    # Rows parallel: one non-zero singular value, p = (1, 0, ...), rank exp(0) = 1.
    assert effective_rank(torch.tensor([[1., 2., 2.], [2., 4., 4.], [-1., -2., -2.]])).item() == pytest.approx(1.)
    # Orthonormal rows: k equal singular values, p uniform, rank exp(log k) = k.
    assert effective_rank(torch.eye(4)[:3] * 7).item() == pytest.approx(3., rel=1e-5)
    # Two unit rows at 90 degrees plus a repeat of the first: M^T M has eigenvalues 2 and 1, so s = (sqrt 2, 1),
    # p = s / (1 + sqrt 2), rank = exp(-sum p log p).
    s = torch.tensor([math.sqrt(2.), 1.])
    p = s / s.sum()
    expected = math.exp(-(p * p.log()).sum().item())
    z = torch.tensor([[1., 0.], [0., 1.], [1., 0.]])
    assert effective_rank(z).item() == pytest.approx(expected, rel=1e-5)


def test_effective_rank_is_scale_invariant_per_row_and_bounded():
    z = torch.randn(50, 8)
    scaled = z * torch.rand(50, 1).add(0.1) * 10  # row lengths change, directions do not
    assert effective_rank(scaled).item() == pytest.approx(effective_rank(z).item(), rel=1e-5)
    assert 1. <= effective_rank(z).item() <= 8.


def test_diagnostics_take_no_gradient_and_reject_bad_shapes():
    z = torch.randn(5, 4, requires_grad=True)
    assert not embedding_std(z).requires_grad and not effective_rank(z).requires_grad
    with pytest.raises(ValueError, match=r'\(N, D\)'):
        embedding_std(torch.randn(1, 4))
    with pytest.raises(ValueError, match=r'\(N, D\)'):
        effective_rank(torch.randn(2, 3, 4))

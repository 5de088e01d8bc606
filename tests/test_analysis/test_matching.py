# Copyright (c) mmlc contributors. All rights reserved.
"""Ground-truth rules and matching, against hand-worked cases and loop references."""

import math

import pytest
import torch

from mmlc.analysis import best_match, containing_cell_index, cosine_similarity_maps, match_accuracy, mirrored_cell_index
from mmlc.models.utils import correspondence_grid


def test_mirrored_cell_even_width_by_hand():
    # 2 x 4 map: row 0 is cells 0..3, row 1 is 4..7; column x -> 3 - x.
    assert mirrored_cell_index(2, 4).tolist() == [3, 2, 1, 0, 7, 6, 5, 4]


def test_mirrored_cell_odd_width_by_hand():
    # 2 x 3 map: the middle column maps onto itself.
    assert mirrored_cell_index(2, 3).tolist() == [2, 1, 0, 5, 4, 3]
    assert mirrored_cell_index(1, 1).tolist() == [0]


@pytest.mark.parametrize('h,w', [(1, 1), (3, 4), (4, 5), (7, 7), (2, 8)])
def test_mirrored_cell_is_where_the_flipped_centre_lands(h, w):
    # Independent route: the continuous correspondence of a whole-image, flipped "crop", then the cell
    # that contains each point. Both rules must agree for odd and even widths.
    size = torch.tensor([[32 * h, 32 * w]])
    grid = correspondence_grid(torch.tensor([[0., 0., 32. * w, 32. * h]]), torch.tensor([True]), size, (h, w))
    index, valid = containing_cell_index(grid, (h, w))
    assert bool(valid.all())
    assert index[0].tolist() == mirrored_cell_index(h, w).tolist()


def _reference_containing_cell(x0, y0, x1, y1, flip, H, W, h1, w1, S, h2, w2):
    """Loop over cells, in pixels: centre in the original -> pixel of I_sc (side S) -> cell of I_sc."""
    out = []
    for i in range(h1):
        for j in range(w1):
            X, Y = (j + 0.5) * W / w1, (i + 0.5) * H / h1
            u, v = (X - x0) / (x1 - x0) * S, (Y - y0) / (y1 - y0) * S
            if flip:
                u = S - u
            if 0 <= u <= S and 0 <= v <= S:
                out.append(min(int(v // (S / h2)), h2 - 1) * w2 + min(int(u // (S / w2)), w2 - 1))
            else:
                out.append(None)
    return out


@pytest.mark.parametrize('box,flip', [((0., 0., 200., 100.), False), ((50., 20., 130., 90.), False),
                                      ((50., 20., 130., 90.), True), ((10., 0., 110., 100.), True),
                                      ((150., 60., 200., 100.), False)])
def test_containing_cell_matches_a_loop_reference(box, flip):
    # Odd h2, w2: no cell centre of the full-image box lands exactly on a cell border of I_2, where the
    # two routes could round differently.
    H, W, h1, w1, h2, w2 = 100, 200, 5, 7, 3, 5
    grid = correspondence_grid(torch.tensor([box]), torch.tensor([flip]), torch.tensor([[H, W]]), (h1, w1))
    index, valid = containing_cell_index(grid, (h2, w2))
    ref = _reference_containing_cell(*box, flip, H, W, h1, w1, 224, h2, w2)
    assert valid[0].tolist() == [r is not None for r in ref]
    assert [int(k) if ok else None for k, ok in zip(index[0], valid[0])] == ref


def test_containing_cell_by_hand():
    # Image 40 x 40, 2 x 2 cells with centres (10, 10), (30, 10), (10, 30), (30, 30). Crop [15, 40) x
    # [0, 40): x = 10 falls outside; x = 30 lies at (30 - 15) / 25 = 0.6 of the crop's width -> column 1 of
    # a 2 x 2 map, y = 10 and 30 at 0.25 and 0.75 of its height -> rows 0 and 1. Flipped, 0.6 becomes 0.4
    # -> column 0.
    box, shape = torch.tensor([[15., 0., 40., 40.]]), torch.tensor([[40, 40]])
    grid = correspondence_grid(box, torch.tensor([False]), shape, (2, 2))
    index, valid = containing_cell_index(grid, (2, 2))
    assert valid[0].tolist() == [False, True, False, True]
    assert index[0, 1] == 1 and index[0, 3] == 3
    grid = correspondence_grid(box, torch.tensor([True]), shape, (2, 2))
    index, valid = containing_cell_index(grid, (2, 2))
    assert valid[0].tolist() == [False, True, False, True]
    assert index[0, 1] == 0 and index[0, 3] == 2


def test_best_match_against_a_loop():
    torch.manual_seed(1)
    f1, f2 = torch.randn(2, 5, 3, 4), torch.randn(2, 5, 2, 3)
    pred = best_match(f1, f2)
    for b in range(2):
        for n in range(12):
            a = f1[b, :, n // 4, n % 4]
            sims = [float(a @ f2[b, :, m // 3, m % 3] / (a.norm() * f2[b, :, m // 3, m % 3].norm())) for m in range(6)]
            assert int(pred[b, n]) == max(range(6), key=lambda m: sims[m])


def test_cosine_similarity_is_scale_invariant_and_bounded():
    f1 = torch.randn(1, 4, 2, 2)
    sim = cosine_similarity_maps(f1, 3.0 * f1)
    torch.testing.assert_close(torch.diagonal(sim[0]), torch.ones(4))
    assert float(sim.abs().max()) <= 1 + 1e-6


def test_flipped_features_match_the_mirrored_cells_exactly():
    for w in (4, 5):  # even and odd widths
        f1 = torch.randn(1, 8, 3, w)
        pred = best_match(f1, f1.flip(-1))  # the features of I_2 are I_1's, mirrored
        acc, count = match_accuracy(pred, mirrored_cell_index(3, w), torch.ones(3 * w, dtype=torch.bool))
        assert float(acc) == 1.0 and int(count) == 3 * w


def test_unflipped_position_features_score_only_the_self_mirrored_column():
    # A feature that depends on position only matches each cell to itself: correct only on the middle
    # column of an odd width (1 of w columns), never for an even width.
    for w, expected in ((4, 0.0), (5, 1 / 5)):
        f = torch.randn(1, 8, 3, w)
        all_cells = torch.ones(3 * w, dtype=torch.bool)
        acc, _ = match_accuracy(best_match(f, f), mirrored_cell_index(3, w), all_cells)
        assert math.isclose(float(acc), expected)


def test_constant_features_are_at_chance():
    # Ties go to cell 0, which is the correct answer only for cell (0, w - 1): 1 of h * w cells.
    f = torch.ones(1, 8, 3, 4)
    acc, _ = match_accuracy(best_match(f, f), mirrored_cell_index(3, 4), torch.ones(12, dtype=torch.bool))
    assert math.isclose(float(acc), 1 / 12)


def test_match_accuracy_counts_valid_cells_only():
    pred = torch.tensor([[0, 1, 2, 3], [0, 0, 0, 0]])
    target = torch.tensor([[0, 1, 0, 0], [1, 1, 1, 1]])
    valid = torch.tensor([[True, True, True, False], [False, False, False, False]])
    acc, count = match_accuracy(pred, target, valid)
    assert math.isclose(float(acc[0]), 2 / 3) and count.tolist() == [3, 0]
    assert math.isnan(float(acc[1]))

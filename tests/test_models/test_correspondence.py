# Copyright (c) mmlc contributors. All rights reserved.
"""correspondence_grid on cases worked out by hand."""

import pytest
import torch

from mmlc.models.utils import cell_centres, correspondence_grid


def _grid(box, flip, shape, feat):
    return correspondence_grid(
        torch.tensor([box], dtype=torch.float32), torch.tensor([flip]), torch.tensor([shape]), feat)[0]


def test_cell_centres_by_hand():
    # 100 x 200 (H x W) image, 2 x 4 map: cells are 50 x 50 px, centres at x = 25, 75, 125, 175; y = 25, 75.
    c = cell_centres((2, 4), torch.tensor([[100, 200]]))[0]
    assert c.shape == (2, 4, 2)
    assert c[..., 0].tolist() == [[25, 75, 125, 175]] * 2
    assert c[..., 1].tolist() == [[25] * 4, [75] * 4]


def test_identity_crop_maps_cell_centres_to_themselves():
    # I_sc = the whole image: cell (i, j) of a 4 x 4 map lands on the centre of cell (i, j) of I_sc,
    # i.e. x = (2j + 1) / 4 - 1 in align_corners=False coordinates.
    g = _grid([0, 0, 320, 240], False, [240, 320], (4, 4))
    centres = [-0.75, -0.25, 0.25, 0.75]
    assert g[..., 0].tolist() == [centres] * 4
    assert g[..., 1].tolist() == [[c] * 4 for c in centres]


def test_flip_mirrors_x_only():
    g = _grid([0, 0, 320, 240], True, [240, 320], (4, 4))
    assert g[..., 0].tolist() == [[0.75, 0.25, -0.25, -0.75]] * 4
    assert g[..., 1].tolist() == [[c] * 4 for c in [-0.75, -0.25, 0.25, 0.75]]


def test_sub_crop_by_hand():
    # 100 x 200 image, 2 x 4 map (centres x = 25, 75, 125, 175; y = 25, 75).
    # Crop x in [50, 150), y in [0, 100): x' = 2 (X - 50) / 100 - 1 -> -1.5, -0.5, 0.5, 1.5;
    # y' = 2 Y / 100 - 1 -> -0.5, 0.5. The two outer columns fall outside I_sc.
    g = _grid([50, 0, 150, 100], False, [100, 200], (2, 4))
    torch.testing.assert_close(g[..., 0], torch.tensor([[-1.5, -0.5, 0.5, 1.5]] * 2))
    torch.testing.assert_close(g[..., 1], torch.tensor([[-0.5] * 4, [0.5] * 4]))
    # Flipped, the same crop: x' -> -x'.
    gf = _grid([50, 0, 150, 100], True, [100, 200], (2, 4))
    torch.testing.assert_close(gf[..., 0], torch.tensor([[1.5, 0.5, -0.5, -1.5]] * 2))


def test_small_crop_in_a_corner_by_hand():
    # 64 x 64 image, 2 x 2 map: centres at 16 and 48. Crop [40, 40, 56, 56] (16 px wide): only the
    # bottom-right centre (48, 48) is inside, at 2 (48 - 40) / 16 - 1 = 0.
    g = _grid([40, 40, 56, 56], False, [64, 64], (2, 2))
    # Top-left centre (16, 16): 2 (16 - 40) / 16 - 1 = -4.
    torch.testing.assert_close(g, torch.tensor([[[-4.0, -4.0], [0.0, -4.0]], [[-4.0, 0.0], [0.0, 0.0]]]))


def test_crop_reaching_outside_the_image_by_hand():
    # A crop box that extends 50 px left of a 100 x 100 image: [-50, 0, 50, 100]; 2 x 2 map, centres 25, 75.
    # x' = 2 (X + 50) / 100 - 1 -> 0.5, 1.5; y' = 2 Y / 100 - 1 -> -0.5, 0.5.
    g = _grid([-50, 0, 50, 100], False, [100, 100], (2, 2))
    torch.testing.assert_close(g[..., 0], torch.tensor([[0.5, 1.5]] * 2))
    torch.testing.assert_close(g[..., 1], torch.tensor([[-0.5, -0.5], [0.5, 0.5]]))


def test_batch_elements_are_independent():
    boxes = torch.tensor([[0, 0, 200, 100], [50, 0, 150, 100]], dtype=torch.float32)
    grid = correspondence_grid(boxes, torch.tensor([False, True]), torch.tensor([[100, 200], [100, 200]]), (2, 4))
    torch.testing.assert_close(grid[0], _grid([0, 0, 200, 100], False, [100, 200], (2, 4)))
    torch.testing.assert_close(grid[1], _grid([50, 0, 150, 100], True, [100, 200], (2, 4)))


def test_degenerate_box_raises():
    with pytest.raises(ValueError, match='x1 > x0'):
        _grid([10, 0, 10, 5], False, [5, 20], (2, 2))


def test_inverse_grid_by_hand():
    # 100 x 200 image; I_sc = crop [50, 0, 150, 100] seen as a 2 x 2 map. I_sc cell centres are at 1/4 and
    # 3/4 of the crop: x = 75, 125 and y = 25, 75 in the original; I_c is the whole image, so
    # x' = 2 X / 200 - 1 = -0.25, 0.25 and y' = 2 Y / 100 - 1 = -0.5, 0.5.
    from mmlc.models.utils import inverse_correspondence_grid
    g = inverse_correspondence_grid(
        torch.tensor([[50., 0., 150., 100.]]), torch.tensor([False]), torch.tensor([[100, 200]]), (2, 2))[0]
    torch.testing.assert_close(g[..., 0], torch.tensor([[-0.25, 0.25]] * 2))
    torch.testing.assert_close(g[..., 1], torch.tensor([[-0.5, -0.5], [0.5, 0.5]]))
    # Flipped: the left I_sc cell shows the right part of the crop.
    gf = inverse_correspondence_grid(
        torch.tensor([[50., 0., 150., 100.]]), torch.tensor([True]), torch.tensor([[100, 200]]), (2, 2))[0]
    torch.testing.assert_close(gf[..., 0], torch.tensor([[0.25, -0.25]] * 2))


def test_inverse_grid_inverts_the_forward_grid():
    # I_sc cell centres mapped into I_c, then I_c -> I_sc with the forward map at those points, return home.
    from mmlc.models.utils import inverse_correspondence_grid
    box, flip, shape = torch.tensor([[30., 20., 130., 95.]]), torch.tensor([True]), torch.tensor([[120, 160]])
    inv = inverse_correspondence_grid(box, flip, shape, (3, 5))[0]  # (3, 5, 2) points in I_c
    # Forward map of an arbitrary I_c point (not a cell centre): x_sc = 2 (X - x0) / (x1 - x0) - 1, mirrored.
    X = (inv[..., 0] + 1) / 2 * 160
    Y = (inv[..., 1] + 1) / 2 * 120
    x_sc = -(2 * (X - 30) / 100 - 1)
    y_sc = 2 * (Y - 20) / 75 - 1
    xs = (torch.arange(5) + 0.5) / 5 * 2 - 1
    ys = (torch.arange(3) + 0.5) / 3 * 2 - 1
    torch.testing.assert_close(x_sc, xs.expand(3, 5))
    torch.testing.assert_close(y_sc, ys[:, None].expand(3, 5))
    assert (inv.abs() <= 1).all()

# Copyright (c) mmlc contributors. All rights reserved.
"""correspondence_grid on cases worked out by hand."""
import pytest
import torch

from mmlc.models.utils import cell_centres, correspondence_grid


def _grid(box, flip, shape, feat):
    return correspondence_grid(torch.tensor([box], dtype=torch.float32), torch.tensor([flip]),
                               torch.tensor([shape]), feat)[0]


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

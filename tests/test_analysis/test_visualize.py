# Copyright (c) mmlc contributors. All rights reserved.
"""The PNG writer and the visualisation tool."""

import os.path as osp

import mmcv
import numpy as np
import torch
from PIL import Image

from mmlc.analysis import DenseFeatureExtractor, evaluate_pairs, prepare_pairs
from mmlc.analysis.visualize import cell_centres_px, draw_correspondence, drawn_cells
from ._known import PositionRBFBackbone, position_image, save_backbone_checkpoint, write_config
from .test_correspondence_accuracy import UNIT
from conftest import REPO_ROOT, load_script

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'visualize_correspondence.py')


def test_cell_centres_by_hand():
    # A 2 x 4 map over a 100 x 200 view: centres at x = 25, 75, 125, 175 and y = 25, 75.
    pts = cell_centres_px((2, 4), (100, 200))
    assert pts.tolist()[:4] == [[25, 25], [75, 25], [125, 25], [175, 25]] and pts.tolist()[4] == [25, 75]


def test_drawn_cells_subsample_a_regular_grid():
    assert drawn_cells((4, 4), 64).tolist() == list(range(16))  # few cells: all of them
    cells = drawn_cells((14, 14), 49)  # stride 2 -> 7 x 7 cells, starting at (1, 1)
    assert cells.size == 49 and cells[0] == 1 * 14 + 1


def test_png_has_the_documented_size(tmp_path):
    extractor = DenseFeatureExtractor(PositionRBFBackbone(stride=16), **UNIT)
    pairs = prepare_pairs([position_image(96, 128)], mode='crop', size=128, colour=False, seed=0, crop_scale=(0.3, 0.6))
    result = evaluate_pairs(extractor, pairs, keep_similarity=True)[0]
    for heatmap_cell, expected in ((None, (2 * 200, 2 * (200 + 20))), (27, (2 * 200, 3 * (200 + 20)))):
        path = tmp_path / f'map_{heatmap_cell}.png'
        assert draw_correspondence(
            pairs[0], result, str(path), heatmap_cell=heatmap_cell, view_px=200, title_px=20) == expected
        with Image.open(path) as png:
            assert png.format == 'PNG' and png.size == expected
            pixels = np.asarray(png.convert('RGB'))
        # The lines are drawn: pure green pixels (correct matches) exist in the prediction row.
        green = (pixels[..., 1] > 180) & (pixels[..., 0] < 60) & (pixels[..., 2] < 60)
        assert green[:220].sum() > 50


def test_tool_writes_one_png_per_image(tmp_path):
    data = tmp_path / 'images'
    data.mkdir()
    for i in range(2):
        mmcv.imwrite(position_image(100, 120 + 20 * i), str(data / f'img{i}.png'))
    torch.manual_seed(0)
    cfg = write_config(tmp_path / 'cfg.py', dict(type='PositionRBFBackbone', stride=16))
    ckpt = save_backbone_checkpoint(tmp_path / 'rbf.pth', PositionRBFBackbone(stride=16))
    written = load_script(TOOL).main([
        cfg, ckpt, '--data',
        str(data), '--out-dir',
        str(tmp_path / 'out'), '--size', '128', '--no-colour', '--heatmap-cell', 'centre', '--view-px', '160'
    ])
    assert [osp.basename(p) for p in written] == ['000_img0_flip.png', '001_img1_flip.png']
    for path in written:
        with Image.open(path) as png:
            assert png.size == (320, 3 * (160 + 24))

# Copyright (c) mmlc contributors. All rights reserved.
"""Correspondence accuracy with backbones whose features are known, through the library and the tool."""

import json
import math
import os.path as osp
import random

import mmcv
import numpy as np
import pytest
import torch

from mmlc.analysis import DenseFeatureExtractor, PairResult, evaluate_pairs, prepare_pairs, resize_square, summarise
from mmlc.datasets import skimage_data_dir
from ._known import (ConstantBackbone, FixedPositionBackbone, PositionRBFBackbone, position_image,
                     save_backbone_checkpoint, write_config)
from conftest import REPO_ROOT, load_script

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'correspondence_accuracy.py')
UNIT = dict(mean=(0., 0., 0.), std=(255., 255., 255.), to_rgb=True)  # inputs in [0, 1], RGB


def _images():
    # Position-encoding images of different shapes (the views are resized to squares).
    return [position_image(96, 160), position_image(128, 128), position_image(150, 100)]


def test_position_encoding_feature_is_100_percent_on_flip_pairs():
    extractor = DenseFeatureExtractor(PositionRBFBackbone(stride=16), **UNIT)
    pairs = prepare_pairs(_images(), mode='flip', size=128, colour=False, seed=0)
    results = evaluate_pairs(extractor, pairs)
    assert results[0].feat_size1 == (8, 8)
    assert all(r.accuracy == 1.0 for r in results)
    assert summarise(results)['accuracy'] == 1.0


@pytest.mark.parametrize('size,expected', [(128, 1 / 64), (80, 1 / 25)])  # 8 x 8 and 5 x 5 maps
def test_constant_feature_is_at_chance(size, expected):
    extractor = DenseFeatureExtractor(ConstantBackbone(stride=16), **UNIT)
    pairs = prepare_pairs(_images(), mode='flip', size=size, colour=True, seed=0)
    summary = summarise(evaluate_pairs(extractor, pairs))
    assert math.isclose(summary['accuracy'], expected) and summary['image_std'] == 0


@pytest.mark.parametrize('size,expected', [(128, 0.0), (80, 1 / 5)])  # even: none; odd: the middle column
def test_image_blind_position_feature_only_scores_the_middle_column(size, expected):
    extractor = DenseFeatureExtractor(FixedPositionBackbone(stride=16), **UNIT)
    summary = summarise(evaluate_pairs(extractor, prepare_pairs(_images(), mode='flip', size=size, seed=0)))
    assert math.isclose(summary['accuracy'], expected)
    # Every cell finds the cell at its own position: the same-position rate exposes the position code.
    assert summary['same_position_rate'] == 1.0


def test_same_position_rate_by_hand():
    # One 2 x 2 pair, predictions (0, 0, 3, 2) for cells 0..3, targets (1, 0, 3, 2), cell 3 invalid. Own position:
    # cell 0 -> 0 yes, cell 1 -> 0 no, cell 2 -> 3 no: 1 of 3 valid cells. Correct: cells 1 and 2: 2 of 3.
    result = PairResult('a', torch.tensor([0, 0, 3, 2]), torch.tensor([1, 0, 3, 2]),
                        torch.tensor([True, True, True, False]), 2 / 3, (2, 2), (2, 2))
    summary = summarise([result])
    assert summary['same_position_rate'] == pytest.approx(1 / 3) and summary['accuracy'] == pytest.approx(2 / 3)
    assert PairResult('b', torch.tensor([0]), torch.tensor([0]), torch.tensor([True]), 1., (1, 1),
                      (1, 2)).num_same_position == 0  # maps of different sizes have no "own position"


def test_colour_on_the_second_view_only():
    img = position_image(96, 160)
    both = prepare_pairs([img], mode='flip', size=64, seed=3)[0]
    second = prepare_pairs([img], mode='flip', size=64, seed=3, colour_views='second')[0]
    assert np.array_equal(second.view1, resize_square(img, 64))  # I_1 untouched
    assert np.array_equal(second.view2, both.view2)  # I_2 has the same colour draw as in the default protocol
    assert not np.array_equal(both.view1, second.view1)
    crop = prepare_pairs([img], mode='crop', size=64, seed=3, colour_views='second')[0]
    assert np.array_equal(crop.view1, resize_square(img, 64))
    with pytest.raises(ValueError, match='colour_views'):
        prepare_pairs([img], colour_views='first')


def test_position_encoding_feature_finds_the_containing_cell_of_crops():
    # Crop + flip pairs: the I_2 cell whose colour (= centre position) is nearest to an I_1 cell's is the
    # cell that contains the I_1 cell's centre (cells are the Voronoi regions of a rectangular lattice).
    # uint8 colours and bicubic resizing blur the borders a little, so allow a few misses at cell edges.
    extractor = DenseFeatureExtractor(PositionRBFBackbone(stride=16), **UNIT)
    images = [position_image(128, 128)] * 12
    results = evaluate_pairs(extractor,
                             prepare_pairs(images, mode='crop', size=128, colour=False, seed=0, crop_scale=(0.3, 1.0)))
    summary = summarise(results)
    assert summary['num_cells'] > 12 * 10  # most crops cover many I_1 cells
    assert summary['accuracy'] >= 0.9
    assert any(r.num_valid < 64 for r in results)  # cells outside the crop were excluded


def test_pairs_are_deterministic_and_leave_the_global_random_state_alone():
    img = mmcv.imread(osp.join(skimage_data_dir(), 'chelsea.png'))
    np.random.seed(123)
    random.seed(123)
    before = (np.random.get_state()[1].copy(), random.getstate())
    a = prepare_pairs([img, img], mode='flip', size=64, seed=3)
    b = prepare_pairs([img, img], mode='flip', size=64, seed=3)
    c = prepare_pairs([img, img], mode='flip', size=64, seed=4)
    assert (np.random.get_state()[1] == before[0]).all() and random.getstate() == before[1]
    assert all((p.view1 == q.view1).all() and (p.view2 == q.view2).all() for p, q in zip(a, b))
    # Each image gets its own colour draw, and another seed draws differently.
    assert not (a[0].view1 == a[1].view1).all()
    assert any(not (p.view1 == q.view1).all() for p, q in zip(a, c))
    # The two views of a pair are coloured independently: I_2 is not simply I_1 mirrored.
    assert not (a[0].view2 == a[0].view1[:, ::-1]).all()


def test_tool_end_to_end_on_a_checkpoint_with_known_features(tmp_path):
    tool = load_script(TOOL)
    data = tmp_path / 'images'
    data.mkdir()
    for i, img in enumerate(_images()):
        mmcv.imwrite(img, str(data / f'{i}.png'))
    torch.manual_seed(0)
    cfg = write_config(tmp_path / 'cfg.py', dict(type='PositionRBFBackbone', stride=16))
    ckpt = save_backbone_checkpoint(tmp_path / 'rbf.pth', PositionRBFBackbone(stride=16))
    out = tmp_path / 'acc.json'
    report = tool.main([
        cfg, ckpt, '--data',
        str(data), '--size', '128', '--no-colour', '--out',
        str(out), '--device', 'cpu', '--no-progress'
    ])
    assert report['summary']['accuracy'] == 1.0 and report['summary']['num_images'] == 3
    assert json.loads(out.read_text())['per_image'][0]['num_valid'] == 64

    cfg = write_config(tmp_path / 'cfg_const.py', dict(type='ConstantBackbone', stride=16))
    ckpt = save_backbone_checkpoint(tmp_path / 'const.pth', ConstantBackbone(stride=16))
    report = tool.main([cfg, ckpt, '--data', str(data), '--size', '128', '--seed', '5', '--no-progress'])
    assert math.isclose(report['summary']['accuracy'], 1 / 64)


def test_tool_is_deterministic_under_seed_on_bundled_photos(tmp_path):
    # A random ResNet-18 on real photos with colour transforms: same seed, same numbers.
    import torchvision
    torch.manual_seed(0)
    ckpt = tmp_path / 'r18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), ckpt)
    tool = load_script(TOOL)
    args = [
        'auto',
        str(ckpt), '--data',
        skimage_data_dir(), '--max-images', '3', '--size', '64', '--no-progress', '--mode', 'crop', '--stage', '2'
    ]
    first, second = tool.main(args + ['--seed', '1']), tool.main(args + ['--seed', '1'])
    assert first['per_image'] == second['per_image']
    assert first['summary']['num_images'] == 3

# Copyright (c) mmlc contributors. All rights reserved.
"""Few-shot episodes, classifier and confidence interval; the tool on a synthetic ImageFolder."""

import json
import math
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torchvision

from mmlc.analysis import episode_accuracy, l2_normalise, mean_confidence_interval, sample_episodes
from conftest import REPO_ROOT, load_script

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'few_shot.py')


def test_episodes_have_the_requested_structure():
    labels = np.repeat(np.arange(7), [30, 30, 30, 30, 30, 30, 4])  # class 6 is too small for 5 + 15
    episodes = sample_episodes(labels, n_way=5, n_shot=5, n_query=15, n_episodes=50, seed=0)
    assert len(episodes) == 50
    for ep in episodes:
        assert ep.support.size == 25 and ep.query.size == 75
        assert not set(ep.support) & set(ep.query)  # disjoint
        assert len(set(labels[ep.support])) == 5 and 6 not in set(labels[ep.support])
        # Episode labels 0..4 follow the original classes consistently across support and query.
        for k in range(5):
            cls = set(labels[ep.support[ep.support_labels == k]])
            assert len(cls) == 1 and cls == set(labels[ep.query[ep.query_labels == k]])
    again = sample_episodes(labels, 5, 5, 15, 50, seed=0)
    assert all((a.support == b.support).all() and (a.query == b.query).all() for a, b in zip(episodes, again))
    other = sample_episodes(labels, 5, 5, 15, 50, seed=1)
    assert any((a.support != b.support).any() for a, b in zip(episodes, other))


def test_any_number_of_ways_and_shots():
    labels = np.repeat(np.arange(4), 6)
    ep = sample_episodes(labels, n_way=3, n_shot=1, n_query=2, n_episodes=1, seed=0)[0]
    assert ep.support.size == 3 and ep.query.size == 6
    with pytest.raises(ValueError, match='needs 5 classes'):
        sample_episodes(labels, n_way=5, n_shot=1, n_query=2, n_episodes=1)


def test_separable_classes_give_full_accuracy():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 64))
    labels = np.repeat(np.arange(10), 25)
    feats = l2_normalise(centres[labels] + 0.05 * rng.normal(size=(250, 64)))
    accs = [episode_accuracy(feats, ep) for ep in sample_episodes(labels, 5, 5, 15, 40, seed=0)]
    mean, half = mean_confidence_interval(accs)
    assert mean == 1.0 and half == 0.0


def test_random_labels_give_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=600)  # labels unrelated to the features
    feats = l2_normalise(rng.normal(size=(600, 32)))
    accs = [episode_accuracy(feats, ep) for ep in sample_episodes(labels, 5, 5, 15, 100, seed=0)]
    mean, half = mean_confidence_interval(accs)
    assert abs(mean - 0.2) < 0.03 and half < 0.02


def test_confidence_interval_by_hand():
    # [0.5, 1.0]: mean 0.75, sample std sqrt(0.125), half-width 1.96 * sqrt(0.125) / sqrt(2) = 0.49.
    mean, half = mean_confidence_interval([0.5, 1.0])
    assert mean == 0.75 and math.isclose(half, 0.49)
    assert mean_confidence_interval([0.3]) == (0.3, 0.0)


def test_l2_normalise():
    out = l2_normalise(np.array([[3., 4.], [0., 0.]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0., 0.]])


def _image_folder(root, n_classes, per_class, seed, separable):
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, size=(n_classes, 3))
    for c in range(n_classes):
        (root / f'class_{c}').mkdir(parents=True)
        for i in range(per_class):
            base = colours[c] if separable else rng.integers(0, 256, size=3)
            img = np.clip(base + rng.normal(0, 12, size=(40, 48, 3)), 0, 255).astype(np.uint8)
            mmcv.imwrite(img, str(root / f'class_{c}' / f'{i}.png'))


def test_tool_on_a_torchvision_checkpoint(tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / 'r18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), ckpt)
    tool = load_script(TOOL)
    common = [
        '--ways', '3', '--shots', '2', '--queries', '3', '--episodes', '30', '--size', '64', '--device', 'cpu',
        '--no-progress'
    ]
    _image_folder(tmp_path / 'sep', n_classes=4, per_class=6, seed=0, separable=True)
    out = tmp_path / 'fs.json'
    report = tool.main([str(ckpt), '--data', str(tmp_path / 'sep'), '--out', str(out)] + common)
    assert report['accuracy'] >= 0.95 and len(report['episodes']) == 30
    assert report['classes'] == ['class_0', 'class_1', 'class_2', 'class_3']
    assert out.exists()
    written = json.loads(out.read_text())
    assert written['accuracy'] == report['accuracy'] and written['episodes'] == report['episodes']
    # Colours unrelated to the class: 3-way accuracy near chance (1/3), far from the separable case.
    _image_folder(tmp_path / 'mixed', n_classes=4, per_class=6, seed=1, separable=False)
    report = tool.main([str(ckpt), '--data', str(tmp_path / 'mixed')] + common)
    assert report['accuracy'] < 0.6

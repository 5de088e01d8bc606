# Copyright (c) mmlc contributors. All rights reserved.
"""Mini-COCO subsets (Table 9): size, consistency, determinism, and the command-line tool."""

import json
import random

import pytest

from mmlc.downstream import sample_coco_subset
from conftest import load_script


def _coco(n_images=200, seed=0):
    rng = random.Random(seed)
    images = [dict(id=i * 3 + 7, file_name=f'{i}.jpg', height=10, width=10) for i in range(n_images)]
    rng.shuffle(images)  # file order must not matter
    anns = [dict(id=k, image_id=rng.choice(images)['id'], category_id=1, bbox=[0, 0, 1, 1]) for k in range(500)]
    return dict(info={'v': 1}, licenses=[], images=images, annotations=anns, categories=[dict(id=1, name='a')])


def _naive(coco, fraction, seed):
    """Reference: the same draw written out step by step."""
    ids = sorted(im['id'] for im in coco['images'])
    k = max(1, round(fraction * len(ids)))
    by_id = {im['id']: im for im in coco['images']}
    drawn = random.Random(seed).sample([by_id[i] for i in ids], k)
    keep = {im['id'] for im in drawn}
    return keep, [a for a in coco['annotations'] if a['image_id'] in keep]


@pytest.mark.parametrize('fraction, expected', [(0.05, 10), (0.1, 20), (1.0, 200), (0.001, 1)])
def test_subset_size_and_annotations(fraction, expected):
    coco = _coco()
    sub = sample_coco_subset(coco, fraction, seed=3)
    ids = [im['id'] for im in sub['images']]
    assert len(ids) == expected == len(set(ids)) and ids == sorted(ids)
    keep, anns = _naive(coco, fraction, 3)
    assert set(ids) == keep and sub['annotations'] == anns
    assert sub['categories'] == coco['categories'] and sub['info'] == coco['info']
    assert len(coco['images']) == 200  # input untouched


def test_subset_is_seeded_and_order_free():
    a = sample_coco_subset(_coco(seed=0), 0.1, seed=1)
    b = sample_coco_subset(_coco(seed=5), 0.1, seed=1)  # same images, other file order
    c = sample_coco_subset(_coco(seed=0), 0.1, seed=2)
    assert a['images'] == b['images'] and a['images'] != c['images']


@pytest.mark.parametrize('fraction', [0, -0.1, 1.5])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError):
        sample_coco_subset(_coco(), fraction)


def test_tool(tmp_path, capsys):
    src, out = tmp_path / 'train.json', tmp_path / 'train_10pct.json'
    src.write_text(json.dumps(_coco()))
    tool = load_script('tools/dataset_converters/coco_subset.py')
    tool.main([str(src), str(out), '--fraction', '0.1', '--seed', '4'])
    assert 'kept 20/200 images' in capsys.readouterr().out
    assert json.loads(out.read_text()) == sample_coco_subset(_coco(), 0.1, seed=4)

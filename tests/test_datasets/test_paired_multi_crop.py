# Copyright (c) mmlc contributors. All rights reserved.
"""PairedMultiCrop: [I_c, I_sc, local crops] and I_sc's crop record, against hand-worked cases."""

import random

import numpy as np
import pytest
from mmengine.config import Config
from mmpretrain.registry import TRANSFORMS

from mmlc.datasets import PairedCorrespondenceTransform, PairedMultiCrop
from conftest import CONFIG_DIR


def position_image(h, w):
    """(h, w, 3) uint8 whose pixel (y, x) holds (x, y, 7): every pixel says where it came from."""
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    return np.stack([xs, ys, np.full_like(xs, 7)], axis=-1).astype(np.uint8)


def paired(**kwargs):
    """No colour, nearest-neighbour resizing: output pixels are input pixels."""
    cfg = dict(
        type='PairedCorrespondenceTransform', c_pipeline=[], sc_pipeline=[], interpolation='nearest', backend='cv2')
    cfg.update(kwargs)
    return cfg


def local_crop(side, area):
    """A RandomResizedCrop (mmpretrain's) of a square of ``area`` (fraction of the image), resized to ``side``."""
    return [
        dict(
            type='RandomResizedCrop',
            scale=side,
            crop_ratio_range=(area, area),
            aspect_ratio_range=(1., 1.),
            interpolation='nearest',
            backend='cv2')
    ]


def test_the_pair_and_the_local_crops_by_hand():
    # An 8 x 8 image. The pair: crops of a quarter of the area at aspect ratio 1 are 4 x 4 (sqrt(64 / 4)), output at
    # 4 px, so I_sc is the crop itself, mirrored (flip_prob 1). I_c is the whole image at 4 px: nearest-neighbour
    # halving keeps every other pixel, x, y in {0, 2, 4, 6}. Local crops: 1/16 of the area is 2 x 2, output at 2 px.
    img = position_image(8, 8)
    t = PairedMultiCrop(
        transforms=[[paired(size=4, scale=(0.25, 0.25), ratio=(1., 1.), flip_prob=1.)],
                    local_crop(2, 1 / 16)],
        num_local_crops=3)
    np.random.seed(0)
    out = t(dict(img=img.copy(), img_shape=(8, 8), ori_shape=(8, 8)))
    assert len(out['img']) == 2 + 3
    view_c, view_sc, *local = out['img']
    assert out['img_shape'] == (4, 4) and out['src_shape'] == (8, 8) and out['sc_flip'] is True
    assert set(view_c[..., 0].ravel()) == {0, 2, 4, 6} and set(view_c[..., 1].ravel()) == {0, 2, 4, 6}
    x0, y0, x1, y1 = out['sc_box']
    assert (x1 - x0, y1 - y0) == (4, 4) and 0 <= x0 <= 4 and 0 <= y0 <= 4
    x0, y0 = int(x0), int(y0)
    np.testing.assert_array_equal(view_sc, img[y0:y0 + 4, x0:x0 + 4][:, ::-1])  # the recorded box, mirrored
    for crop in local:
        # Each local crop is a 2 x 2 block of the *original* image (any place in it, not only inside I_sc).
        assert crop.shape == (2, 2, 3)
        lx, ly = int(crop[0, 0, 0]), int(crop[0, 0, 1])
        np.testing.assert_array_equal(crop, img[ly:ly + 2, lx:lx + 2])


def test_local_crops_come_from_the_whole_image():
    # Local crops of 1 pixel (1/64 of an 8 x 8 image): over 40 of them, their top-left corners leave I_sc's crop.
    img = position_image(8, 8)
    t = PairedMultiCrop(
        transforms=[[paired(size=2, scale=(1 / 16, 1 / 16), ratio=(1., 1.), flip_prob=0.)],
                    local_crop(1, 1 / 64)],
        num_local_crops=40)
    np.random.seed(1)
    out = t(dict(img=img))
    x0, y0, x1, y1 = out['sc_box']
    corners = {(int(c[0, 0, 0]), int(c[0, 0, 1])) for c in out['img'][2:]}
    assert any(not (x0 <= x < x1 and y0 <= y < y1) for x, y in corners)


@pytest.mark.parametrize('seed', range(3))
def test_pair_and_record_are_the_paired_transforms_own_from_the_same_random_state(seed):
    # With real colour transforms (BYOL's presets) and a random image: the pair is drawn first, so the first two
    # views and the record are exactly what PairedCorrespondenceTransform alone makes from the same seed.
    img = np.random.default_rng(seed).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    cfg = dict(size=32, scale=(0.4, 1.))
    t = PairedMultiCrop(
        transforms=[[dict(type='PairedCorrespondenceTransform', **cfg)],
                    local_crop(16, 0.1)], num_local_crops=2)
    alone_t = PairedCorrespondenceTransform(**cfg)
    random.seed(seed)  # mmcv's RandomGrayscale draws from Python's random module, the other transforms from numpy's
    np.random.seed(seed)
    out = t(dict(img=img.copy()))
    random.seed(seed)
    np.random.seed(seed)
    alone = alone_t(dict(img=img.copy()))
    for got, want in zip(out['img'][:2], alone['img']):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(out['sc_box'], alone['sc_box'])
    assert (out['sc_flip'], out['src_shape']) == (alone['sc_flip'], alone['src_shape'])
    assert [v.shape for v in out['img'][2:]] == [(16, 16, 3)] * 2


def test_no_local_crops_is_the_pair_alone():
    t = PairedMultiCrop(transforms=[[paired(size=4)], local_crop(2, 0.25)], num_local_crops=0)
    assert len(t(dict(img=position_image(8, 8)))['img']) == 2


@pytest.mark.parametrize('transforms, num, match', [
    ([[paired()]], 2, 'two pipelines'),
    ([paired(), local_crop(2, 0.25)], 2, 'two pipelines'),
    ([local_crop(2, 0.25), local_crop(2, 0.25)], 2, 'exactly one PairedCorrespondenceTransform'),
    ([[paired(), paired()], local_crop(2, 0.25)], 2, 'exactly one PairedCorrespondenceTransform'),
    ([[paired()], [paired()]], 2, 'local pipeline'),
    ([[paired()], local_crop(2, 0.25)], -1, 'num_local_crops'),
    ([[paired()], local_crop(2, 0.25)], 2.0, 'num_local_crops'),
])
def test_bad_arguments_are_refused(transforms, num, match):
    with pytest.raises(ValueError, match=match):
        PairedMultiCrop(transforms=transforms, num_local_crops=num)


def test_cpu_config_pipeline_builds_from_the_registry_with_fast_colour():
    cfg = Config.fromfile(f'{CONFIG_DIR}/dino_lc/dino-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')
    spec = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'PairedMultiCrop'][0]
    t = TRANSFORMS.build(spec)
    pair = t.paired_pipeline.transforms[0]
    assert isinstance(pair, PairedCorrespondenceTransform)
    # The scoped colour configs inherited from mmpretrain's BYOL views still get the fast twins.
    assert 'FastColorJitter' in repr(pair.c_pipeline) and 'FastGaussianBlur' in repr(pair.sc_pipeline)
    assert t.num_local_crops == 4 and 'PairedMultiCrop' in repr(t)

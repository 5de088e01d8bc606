# Copyright (c) mmlc contributors. All rights reserved.
"""PairedCorrespondenceTransform end to end: pixels of I_c and I_sc agree where the grid says they do."""

import numpy as np
import pytest
import torch

from mmlc.datasets import PairedCorrespondenceTransform
from mmlc.models.utils import correspondence_grid


def coordinate_image(h, w):
    """A smooth image whose pixel (y, x) stores its own centre: R = 255 (x + .5) / w, G = 255 (y + .5) / h."""
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing='ij')
    img = np.stack([255 * xs / w, 255 * ys / h, np.full_like(xs, 128)], axis=-1)
    return np.round(img).astype(np.uint8)


def _make(size=64, flip_prob=0.5, **kwargs):
    return PairedCorrespondenceTransform(
        size=size,
        flip_prob=flip_prob,
        c_pipeline=[],
        sc_pipeline=[],
        interpolation='bilinear',
        backend='cv2',
        **kwargs)


def _decode_xy(pixel, h, w):
    """Original-image point stored in a coordinate_image pixel."""
    return pixel[..., 0].astype(np.float64) / 255 * w, pixel[..., 1].astype(np.float64) / 255 * h


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
def test_views_agree_at_corresponding_points(seed, flip_prob):
    h, w, size = 180, 240, 64
    np.random.seed(seed)
    out = _make(size=size, flip_prob=flip_prob, scale=(0.2, 0.6))(dict(img=coordinate_image(h, w)))
    view_c, view_sc = out['img']
    assert view_c.shape == view_sc.shape == (size, size, 3) and view_c.dtype == np.uint8
    assert out['sc_flip'] is bool(flip_prob) and out['src_shape'] == (h, w)

    # Treat every I_c pixel as a cell: the grid says where its centre lands in I_sc.
    grid = correspondence_grid(
        torch.from_numpy(out['sc_box'])[None], torch.tensor([out['sc_flip']]), torch.tensor([[h, w]]),
        (size, size))[0].numpy()  # (size, size, 2)
    inside = (np.abs(grid) <= 0.9).all(-1)  # keep off the border where resampling clamps
    assert inside.sum() > 50
    # Grid -> I_sc pixel coordinates, then nearest pixel.
    px = np.clip(np.round((grid[..., 0] + 1) / 2 * size - 0.5), 0, size - 1).astype(int)
    py = np.clip(np.round((grid[..., 1] + 1) / 2 * size - 0.5), 0, size - 1).astype(int)
    xc, yc = _decode_xy(view_c, h, w)
    xsc, ysc = _decode_xy(view_sc[py, px], h, w)
    # Same original point up to half an I_sc pixel (in original pixels) plus quantisation.
    x0, y0, x1, y1 = out['sc_box']
    tol_x = 0.5 * (x1 - x0) / size + 1.5 * w / 255
    tol_y = 0.5 * (y1 - y0) / size + 1.5 * h / 255
    assert np.abs(xc - xsc)[inside].max() <= tol_x
    assert np.abs(yc - ysc)[inside].max() <= tol_y


def test_view_c_is_the_whole_image_and_box_is_a_crop_of_it():
    h, w = 90, 120
    np.random.seed(3)
    out = _make(size=30)(dict(img=coordinate_image(h, w)))
    xc, yc = _decode_xy(out['img'][0], h, w)
    # I_c's pixel (i, j) shows the original point ((j + .5) w / 30, (i + .5) h / 30).
    want_x = (np.arange(30) + 0.5) * w / 30
    want_y = (np.arange(30) + 0.5) * h / 30
    assert np.abs(xc - want_x[None, :]).max() <= 1.5 * w / 255
    assert np.abs(yc - want_y[:, None]).max() <= 1.5 * h / 255
    x0, y0, x1, y1 = out['sc_box']
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and out['sc_box'].dtype == np.float32


def test_flip_mirrors_the_crop():
    img = coordinate_image(50, 80)
    np.random.seed(5)
    unflipped = _make(size=32, flip_prob=0.0)(dict(img=img.copy()))
    np.random.seed(5)
    flipped = _make(size=32, flip_prob=1.0)(dict(img=img.copy()))
    # The flip draw comes after the crop draw, so both used the same crop.
    np.testing.assert_array_equal(unflipped['sc_box'], flipped['sc_box'])
    np.testing.assert_array_equal(flipped['img'][1], unflipped['img'][1][:, ::-1])


@pytest.mark.parametrize('img, name', [
    (np.full((40, 50), 77, np.uint8), 'grey 2-D'),
    (np.full((40, 50, 1), 77, np.uint8), 'grey 1-channel'),
    (np.dstack([np.full((40, 50, 3), 77, np.uint8), np.zeros((40, 50, 1), np.uint8)]), 'RGBA'),
    (np.full((40, 50, 3), 77 * 257, np.uint16), '16-bit'),
])
def test_grey_rgba_and_16_bit_images_become_rgb(img, name):
    out = _make(size=24)(dict(img=img))
    for view in out['img']:
        assert view.shape == (24, 24, 3) and view.dtype == np.uint8, name
        assert (view == 77).all(), name  # a flat image stays flat, alpha ignored
    assert out['src_shape'] == (40, 50)


@pytest.mark.parametrize('h, w', [(1, 1), (3, 5), (7, 2)])
def test_images_smaller_than_size(h, w):
    img = coordinate_image(h, w)
    out = _make(size=16)(dict(img=img))
    x0, y0, x1, y1 = out['sc_box']
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert all(v.shape == (16, 16, 3) for v in out['img'])


@pytest.mark.parametrize(
    'img', [np.zeros((0, 5, 3), np.uint8),
            np.zeros((5, 5, 2), np.uint8),
            np.zeros((5, 5, 3), np.float32)])
def test_unusable_images_raise_a_clear_error(img):
    with pytest.raises(ValueError, match='image'):
        _make(size=8)(dict(img=img, img_path='bad.png'))


@pytest.mark.parametrize('kwargs, match', [
    (dict(size=0), 'size'),
    (dict(size=32, scale=(0.5, 0.2)), 'scale'),
    (dict(size=32, scale=(0.0, 1.0)), 'scale'),
    (dict(size=32, scale=(0.2, 1.5)), 'scale'),
    (dict(size=32, ratio=(2.0, 1.0)), 'ratio'),
    (dict(size=32, flip_prob=1.5), 'flip_prob'),
    (dict(size=32, interpolation='cubic'), 'interpolation'),
    (dict(size=32, backend='tf'), 'backend'),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PairedCorrespondenceTransform(**kwargs)


def test_default_colour_pipelines_are_byol_asymmetric():
    t = PairedCorrespondenceTransform(size=32)
    blur_c = [p for p in t.c_pipeline_cfg if p['type'] == 'GaussianBlur'][0]
    blur_sc = [p for p in t.sc_pipeline_cfg if p['type'] == 'GaussianBlur'][0]
    sol_c = [p for p in t.c_pipeline_cfg if p['type'] == 'Solarize'][0]
    sol_sc = [p for p in t.sc_pipeline_cfg if p['type'] == 'Solarize'][0]
    assert (blur_c['prob'], sol_c['prob'], blur_sc['prob'], sol_sc['prob']) == (1.0, 0.0, 0.1, 0.2)
    # The colour pipelines run and keep the geometry: shapes and dtype survive.
    rng = np.random.RandomState(0)
    out = t(dict(img=rng.randint(0, 255, (60, 70, 3), dtype=np.uint8)))
    assert [v.shape for v in out['img']] == [(32, 32, 3)] * 2
    assert 'PairedCorrespondenceTransform(size=32' in repr(t)


def test_colour_presets():
    paper = PairedCorrespondenceTransform(size=32, c_pipeline='byol-view1-solarize')
    probs = {p['type']: p['prob'] for p in paper.c_pipeline_cfg if 'prob' in p}
    assert (probs['GaussianBlur'], probs['Solarize']) == (1.0, 0.2)  # BYOL view 1 + solarisation
    view1 = PairedCorrespondenceTransform(size=32).c_pipeline_cfg
    assert PairedCorrespondenceTransform(size=32, sc_pipeline='byol-view1').sc_pipeline_cfg == view1
    with pytest.raises(ValueError, match='unknown colour preset'):
        PairedCorrespondenceTransform(size=32, c_pipeline='paper')


def test_packed_sample_carries_the_records():
    from mmpretrain.datasets.transforms import PackInputs
    out = _make(size=16)(dict(img=coordinate_image(20, 30)))
    packed = PackInputs(algorithm_keys=['sc_box', 'sc_flip', 'src_shape'])(out)
    assert [tuple(t.shape) for t in packed['inputs']] == [(3, 16, 16)] * 2
    ds = packed['data_samples']
    np.testing.assert_array_equal(ds.sc_box, out['sc_box'])
    assert ds.sc_flip == out['sc_flip'] and tuple(ds.src_shape) == (20, 30)

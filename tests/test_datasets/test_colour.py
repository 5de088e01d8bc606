# Copyright (c) mmlc contributors. All rights reserved.
"""FastColorJitter and its numpy enhancements against mmcv's Pillow-backend functions, pixel for pixel."""

import copy
import random
import warnings

import mmcv
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageFilter

import mmlc.datasets.transforms.colour as colour
from mmlc.datasets import BYOL_VIEW1_COLOUR, BYOL_VIEW2_COLOUR, PairedCorrespondenceTransform, bundled_photo_path
from mmlc.datasets.transforms import with_fast_colour


def every_colour() -> np.ndarray:
    """All 2**24 colours as a (4096, 4096, 3) uint8 image."""
    code = np.arange(1 << 24, dtype=np.uint32)
    return np.stack([(code >> 16) & 255, (code >> 8) & 255, code & 255], -1).astype(np.uint8).reshape(4096, 4096, 3)


def mmcv_pillow(name: str, img: np.ndarray, factor: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # adjust_color warns on every call
        return getattr(mmcv, name)(img, factor, backend='pillow')


@pytest.fixture(scope='module')
def photo() -> np.ndarray:
    img = mmcv.imread(bundled_photo_path('chelsea'))
    return mmcv.imresize(img, (160, 120))


def test_hue_equals_pillow_on_a_sixteenth_of_all_colours():
    # Every colour (no [::4, ::4]) also matches; a sixteenth (1 Mi colours, all 256 values of every channel) keeps
    # the test at a few seconds.
    img = every_colour()[1::4, 2::4]
    for factor in (0.1, -0.0371):
        want = mmcv_pillow('adjust_hue', img, factor)
        np.testing.assert_array_equal(colour.adjust_hue(img, factor), want)


def test_hue_tables_equal_the_exact_conversions():
    """The look-up tables hold what the exact (Convert.c) functions give, on a random sample of codes."""
    tables = colour._hue_tables()
    codes = np.random.RandomState(0).randint(0, 1 << 24, 20000).astype(np.uint32)
    hi, mid, lo = (((codes >> s) & 255).astype(np.uint8) for s in (16, 8, 0))
    h, s, _ = colour.rgb_to_pil_hsv(hi, mid, lo)
    np.testing.assert_array_equal(tables.hs[codes], (h.astype(np.uint16) << 8) | s)
    r, g, b = colour.pil_hsv_to_rgb(hi, mid, lo)
    np.testing.assert_array_equal(tables.bgr[codes],
                                  b.astype(np.uint32) | (g.astype(np.uint32) << 8)
                                  | (r.astype(np.uint32) << 16))


def test_pillow_hsv_worked_by_hand():
    # Pure red: h 0, s 255, v 255; (r, g, b) = (0, 128, 255): blue is max, h = 4 + gc - rc = 4 + 127/255 - 1 ->
    # (3 + 127/255) / 6 * 255 = 148.67 -> 148, s = 255.
    h, s, v = colour.rgb_to_pil_hsv(
        np.array([255, 0, 10], np.uint8), np.array([0, 128, 10], np.uint8), np.array([0, 255, 10], np.uint8))
    assert h.tolist() == [0, 148, 0] and s.tolist() == [255, 255, 0] and v.tolist() == [255, 255, 10]
    # Hue 85 (one third of the circle) at full saturation and value is pure green in Pillow's 8-bit HSV.
    r, g, b = colour.pil_hsv_to_rgb(np.array([85], np.uint8), np.array([255], np.uint8), np.array([255], np.uint8))
    assert (int(r[0]), int(g[0]), int(b[0])) == (0, 255, 0)


@pytest.mark.parametrize('name,fast', [('adjust_brightness', colour.adjust_brightness),
                                       ('adjust_contrast', colour.adjust_contrast),
                                       ('adjust_color', colour.adjust_saturation)])
@pytest.mark.parametrize('factor', [0.0, 0.6, 0.8137, 1.0, 1.4, 2.5])
def test_enhancements_equal_pillow(name, fast, factor, photo):
    rng = np.random.RandomState(1)
    noise = rng.randint(0, 256, (64, 64, 3)).astype(np.uint8)
    for img in (photo, noise, every_colour()[::16, ::16]):
        np.testing.assert_array_equal(fast(img, factor), mmcv_pillow(name, img, factor))


def test_luma_and_blend_by_hand():
    # Pillow's L of (r, g, b) = (100, 50, 200): (100 * 19595 + 50 * 38470 + 200 * 7471 + 32768) >> 16 = 82.
    bgr = np.array([[[200, 50, 100]]], np.uint8)
    assert colour.pil_luma(bgr).item() == 82
    # Blend truncates towards zero and clips: 10 + 1.5 * (100 - 10) = 145; 0 + 3 * 100 = 300 -> 255.
    assert colour.pil_blend(np.uint8(10), np.uint8(100), 1.5).item() == 145
    assert colour.pil_blend(np.uint8(0), np.uint8(100), 3.0).item() == 255
    assert colour.pil_blend(np.uint8(0), np.uint8(99), 0.5).item() == 49


def _jitter_cfg(fast: bool) -> dict:
    return dict(
        type='FastColorJitter' if fast else 'ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)


def test_fast_color_jitter_draws_and_returns_what_mmpretrain_does(photo):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        slow, fast = TRANSFORMS.build(_jitter_cfg(False)), TRANSFORMS.build(_jitter_cfg(True))
    for seed in range(12):
        np.random.seed(seed)
        want = slow(dict(img=photo.copy()))['img']
        np.random.seed(seed)
        got = fast(dict(img=photo.copy()))['img']
        np.testing.assert_array_equal(got, want)
        assert not np.array_equal(got, photo)


def test_fast_color_jitter_rejects_what_it_does_not_reproduce():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        with pytest.raises(ValueError, match="'pillow' backend"):
            TRANSFORMS.build(dict(_jitter_cfg(True), backend='cv2'))
        jitter = TRANSFORMS.build(_jitter_cfg(True))
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8'):
        jitter(dict(img=np.zeros((8, 8), np.uint8)))
    with pytest.raises(ValueError, match='hue_factor'):
        colour.adjust_hue(np.zeros((2, 2, 3), np.uint8), 0.7)


def pil_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius=sigma)))


@pytest.mark.parametrize('sigma', [0.1, 0.37, 0.5, 1.0, 1.33, 1.9, 2.0])
def test_gaussian_blur_is_within_two_levels_of_pillow(sigma, photo):
    noise = np.random.RandomState(2).randint(0, 256, (50, 70, 3)).astype(np.uint8)
    for img in (photo, noise):
        diff = np.abs(colour.gaussian_blur(img, sigma).astype(int) - pil_blur(img, sigma))
        assert diff.max() <= 2 and diff.mean() <= 0.2, (diff.max(), diff.mean())
        # ... and it does blur wherever Pillow's does (an identity would fail here from sigma 0.37 on).
        change = np.abs(pil_blur(img, sigma).astype(int) - img).mean()
        if change > 1:
            assert diff.mean() < 0.1 * change


def test_box_blur_radius_and_kernel_by_hand():
    # sigma = 3 over 3 passes: sigma2 = 3, L = sqrt(37) = 6.08, l = 2, a = 5 * (6 - 9) / (6 * (3 - 9)) = 0.41667.
    assert colour.box_blur_radius(3.0) == pytest.approx(2 + 15 / 36, abs=1e-6)
    # An integer radius is a plain box: 2 r + 1 equal taps (ww = floor(2**24 / 5)), ends (1 - 5 ww / 2**24) / 2.
    kernel = colour.box_blur_kernel(2.0)
    ww = (1 << 24) // 5
    np.testing.assert_allclose(
        kernel, np.array([((1 << 24) - 5 * ww) // 2] + [ww] * 5 + [((1 << 24) - 5 * ww) // 2]) / (1 << 24), rtol=1e-6)
    assert kernel.sum() == pytest.approx(1., abs=1e-6)
    # A constant image stays constant; an impulse spreads symmetrically.
    flat = np.full((9, 9, 3), 77, np.uint8)
    np.testing.assert_array_equal(colour.gaussian_blur(flat, 1.5), flat)
    impulse = np.zeros((21, 21, 3), np.uint8)
    impulse[10, 10] = 255
    out = colour.gaussian_blur(impulse, 1.5)[..., 0].astype(int)
    np.testing.assert_array_equal(out, out[::-1, :])
    np.testing.assert_array_equal(out, out[:, ::-1])  # (not transposable: each pass rounds, rows first)
    assert np.abs(out - pil_blur(impulse, 1.5)[..., 0]).max() <= 2


def test_fast_gaussian_blur_draws_what_mmpretrain_does(photo):
    cfg = dict(magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        slow, fast = TRANSFORMS.build(dict(type='GaussianBlur',
                                           **cfg)), TRANSFORMS.build(dict(type='FastGaussianBlur', **cfg))
    applied = 0
    for seed in range(10):
        np.random.seed(seed)
        want = slow(dict(img=photo.copy()))['img']
        np.random.seed(seed)
        got = fast(dict(img=photo.copy()))['img']
        diff = np.abs(got.astype(int) - want)
        assert diff.max() <= 2
        applied += not np.array_equal(want, photo)
    assert 0 < applied < 10  # both skipped and applied draws were compared


def test_with_fast_colour_swaps_only_pillow_jitter():
    cfg = copy.deepcopy(BYOL_VIEW1_COLOUR) + [dict(type='ColorJitter', brightness=0.1, backend='cv2')]
    swapped = with_fast_colour(cfg)
    assert swapped[0]['transforms'][0]['type'] == 'FastColorJitter'
    assert swapped[-1]['type'] == 'ColorJitter'  # cv2 semantics are not the ones reproduced
    assert cfg[0]['transforms'][0]['type'] == 'ColorJitter'  # the input is not modified
    assert [t['type'] for t in swapped[1:-1]] == ['RandomGrayscale', 'FastGaussianBlur', 'Solarize']


@pytest.mark.parametrize('pipeline', [BYOL_VIEW1_COLOUR, BYOL_VIEW2_COLOUR])
def test_byol_colour_pipelines_are_within_two_levels_with_the_fast_path(pipeline, photo):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        slow = Compose([TRANSFORMS.build(t) for t in copy.deepcopy(pipeline)])
        fast = Compose([TRANSFORMS.build(t) for t in with_fast_colour(pipeline)])
    for seed in range(10):  # RandomGrayscale draws from python's random, the others from numpy's
        np.random.seed(seed)
        random.seed(seed)
        want = slow(dict(img=photo.copy()))['img']
        np.random.seed(seed)
        random.seed(seed)
        got = fast(dict(img=photo.copy()))['img']
        assert np.abs(got.astype(int) - want).max() <= 2  # the blur's rounding; the jitter is exact


def test_paired_transform_views_agree_with_and_without_the_fast_path(photo):
    outs = []
    for fast in (False, True):
        np.random.seed(3)
        random.seed(3)
        transform = PairedCorrespondenceTransform(size=64, fast_colour=fast)
        outs.append([transform(dict(img=photo.copy())) for _ in range(6)])
    for slow, fast in zip(*outs):
        for a, b in zip(slow['img'], fast['img']):
            assert np.abs(a.astype(int) - b).max() <= 2
        np.testing.assert_array_equal(slow['sc_box'], fast['sc_box'])
    assert 'fast_colour=True' in repr(PairedCorrespondenceTransform(size=64))

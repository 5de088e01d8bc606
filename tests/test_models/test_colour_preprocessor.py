# Copyright (c) mmlc contributors. All rights reserved.
"""Colour augmentation in the data preprocessor (issue 12, item 2): the batched operations against the CPU
transforms they replace, the per-sample parameters against the CPU pipeline's distributions, the random stream per
rank and iteration (also in 2 gloo processes), and training through the Runner.

Tolerance for "same parameters -> same image": exact equality (0 grey levels) for every operation and for the whole
presets against mmpretrain's / mmcv's transforms. The batched operations redo the CPU code's arithmetic (Pillow's
float32 blend and truncation, its 8-bit HSV and 8.24 fixed-point box blur, mmcv's float64 grey), so on the CPU nothing
is left for a tolerance to absorb; the issue's bound (mean |diff| <= 1/255, max <= 8/255) would hide an off-by-one
rounding rule. That bound is tested where the reference itself is approximate (mmlc's FastGaussianBlur, within 2
levels of Pillow) and for the batch on a GPU against the CPU (skipped without one).
"""

import math
import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import RandomApply, RandomGrayscale
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur, Solarize
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS
from PIL import Image, ImageFilter
from scipy import stats

import mmlc  # noqa: F401
import mmlc.models.data_preprocessors.colour_aug_preprocessor as preprocessor_module
from mmlc.datasets import bundled_photo_path
from mmlc.datasets.transforms import (COLOUR_PRESETS, FastColorJitter, FastGaussianBlur, PairedCorrespondenceTransform,
                                      build_colour_pipeline, with_fast_colour)
from mmlc.models.data_preprocessors import BatchedColourPipeline, ColourAugDataPreprocessor
from mmlc.models.data_preprocessors import colour_ops as ops
from mmlc.models.data_preprocessors.colour_pipeline import JitterStep
from conftest import BYOL_LC_DIR, REPO_ROOT, load_script

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'flower')
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
DEMO_VARIANT = osp.join(BYOL_LC_DIR, 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos-colour-in-preprocessor.py')
PAPER_VARIANT = osp.join(BYOL_LC_DIR, 'byol-lc_resnet50_16xb256-coslr-400e_in1k-colour-in-preprocessor.py')


@pytest.fixture(scope='module')
def photos():
    """Four real colour photos, BGR uint8 (56, 72, 3) each (not square, so a transposed axis shows)."""
    return [mmcv.imresize(mmcv.imread(bundled_photo_path(n)), (72, 56), backend='pillow') for n in PHOTOS]


def to_batch(images):
    """(H, W, 3) uint8 list -> (B, 3, H, W) float."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


def to_images(batch):
    """(B, 3, H, W) float -> (B, H, W, 3) int64."""
    return batch.permute(0, 2, 3, 1).numpy().astype(np.int64)


def pillow_blur(img, sigma):
    return np.array(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius=float(sigma))))


# (name, batched op, the CPU function the CPU transform calls, fixed parameters: extremes, identity, ordinary values)
OPS = [
    ('brightness', ops.adjust_brightness, lambda im, f: mmcv.adjust_brightness(im, f, backend='pillow'),
     [0.0, 0.6, 1.0, 1.37, 2.5]),
    ('contrast', ops.adjust_contrast, lambda im, f: mmcv.adjust_contrast(im, f, backend='pillow'),
     [0.0, 0.6, 1.0, 1.4, 3.0]),
    ('saturation', ops.adjust_saturation, lambda im, f: mmcv.adjust_color(im, f, backend='pillow'),
     [0.0, 0.8, 1.0, 1.2, 2.0]),
    ('hue', ops.adjust_hue, lambda im, f: mmcv.adjust_hue(im, f, backend='pillow'),
     [-0.5, -0.1, -0.003, 0.0, 0.07, 0.5]),
    ('blur', ops.gaussian_blur, pillow_blur, [0.0, 0.1, 0.77, 2.0, 5.0]),
    ('solarize', ops.solarize, lambda im, f: mmcv.solarize(im, f), [0, 128, 200, 256]),
]


@pytest.mark.filterwarnings('ignore:Only use')
@pytest.mark.parametrize('name,op,cpu,values', OPS, ids=[o[0] for o in OPS])
def test_op_equals_the_cpu_transform_for_fixed_parameters(photos, name, op, cpu, values):
    x = to_batch(photos)
    for v, value in enumerate(values):
        # All four photos get this value; then each photo a different value of the list.
        for factors in ([value] * len(photos), [values[(v + i) % len(values)] for i in range(len(photos))]):
            out = to_images(op(x, torch.tensor(factors, dtype=torch.float64)))
            want = np.stack([cpu(im, float(f)) for im, f in zip(photos, factors)]).astype(np.int64)
            assert np.array_equal(out, want), (name, factors, np.abs(out - want).max())


def test_grey_equals_mmcv_random_grayscale(photos):
    t = RandomGrayscale(prob=1.0, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))
    want = np.stack([t(dict(img=im.copy()))['img'] for im in photos]).astype(np.int64)
    out = to_images(ops.rgb_to_grey(to_batch(photos), (0.114, 0.587, 0.2989)))
    assert np.array_equal(out, want)
    # Every grey level, where the truncation is most fragile: mmcv's float64 sum turns 113 and 226 into 112 and
    # 225 (the normalised weights sum to just under 1); a float32 sum would turn dozens of levels down.
    levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    want = t(dict(img=levels.copy()))['img'].astype(np.int64)
    assert np.array_equal(to_images(ops.rgb_to_grey(to_batch([levels])))[0], want)
    assert (want[..., 0] != levels[..., 0]).sum() == 2


def test_blur_edges_on_images_smaller_than_the_box():
    rng = np.random.default_rng(0)
    for h, w in [(1, 1), (3, 5), (7, 2)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for sigma in (0.6, 2.0, 5.0):
            out = to_images(ops.gaussian_blur(to_batch([img]), torch.tensor([sigma])))[0]
            assert np.array_equal(out, pillow_blur(img, sigma)), (h, w, sigma)


@pytest.mark.parametrize('op', [ops.adjust_contrast, ops.adjust_saturation, ops.adjust_hue])
def test_channel_order_argument(photos, op):
    bgr = to_batch(photos)
    factors = torch.tensor([0.5, 0.3, -0.2, 0.1]) if op is ops.adjust_hue else torch.tensor([0.5, 1.3, 0.2, 1.9])
    from_bgr = op(bgr, factors, channel_order='bgr')
    from_rgb = op(bgr.flip(1), factors, channel_order='rgb')
    assert torch.equal(from_rgb.flip(1), from_bgr)
    assert not torch.equal(op(bgr, factors, channel_order='rgb'), from_bgr)  # the argument matters


def test_luma_is_pillows_l_conversion():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    want = np.array(Image.fromarray(rgb).convert('L')).astype(np.int64)
    got = ops.pillow_luma(to_batch([rgb]), 'rgb')[0, 0].numpy().astype(np.int64)
    assert np.array_equal(got, want)


def _cpu_jitter(img, order, factors):
    """mmpretrain's ColorJitter transform with its random draw replaced by (order, factors)."""
    t = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    t._rand_params = lambda: (np.asarray(order), *[float(f) for f in factors])
    return t(dict(img=img.copy()))['img']


@pytest.mark.filterwarnings('ignore:Only use')
def test_jitter_applies_each_samples_permutation(photos):
    step = JitterStep([(0.6, 1.4), (0.6, 1.4), (0.8, 1.2), (-0.1, 0.1)])
    params = step.sample(4, torch.Generator().manual_seed(3))
    params['order'] = torch.tensor([[3, 0, 2, 1], [0, 1, 2, 3], [2, 3, 1, 0], [1, 3, 0, 2]])
    params['factors'] = torch.tensor([[0.65, 1.35, 0.85, 0.09]] * 4, dtype=torch.float64)
    x = to_batch(photos)
    out = step.apply(x, params, torch.ones(4, dtype=torch.bool), 'bgr')
    by_op = [ops.adjust_brightness, ops.adjust_contrast, ops.adjust_saturation, ops.adjust_hue]
    for i, order in enumerate(params['order'].tolist()):
        by_hand = x[i:i + 1]
        for j in order:  # the sample's own order, applied by hand
            by_hand = by_op[j](by_hand, params['factors'][i:i + 1, j])
        assert torch.equal(out[i:i + 1], by_hand), order
        assert np.array_equal(to_images(out[i:i + 1])[0], _cpu_jitter(photos[i], order, params['factors'][i]))
    # The order matters for these factors, so the check above can fail: the identity order differs on photo 0.
    in_order = x[0:1]
    for j in range(4):
        in_order = by_op[j](in_order, params['factors'][0:1, j])
    assert not torch.equal(out[0:1], in_order)
    # A sample outside the mask is left as it is.
    kept = step.apply(x, params, torch.tensor([True, False, True, False]), 'bgr')
    assert torch.equal(kept[1], x[1]) and torch.equal(kept[0], out[0])


def inject(transform, params, i):
    """Make a built CPU transform (and its inner ones) use sample ``i`` of ``params`` instead of its own draw."""
    kind = type(transform)
    if kind is RandomApply:
        transform.random_apply = lambda: bool(params['apply'][i])
        for t, p in zip(transform.transforms.transforms, params['inner']):
            inject(t, p, i)
    elif kind in (ColorJitter, FastColorJitter):
        factors = [None if math.isnan(f) else f for f in params['factors'][i].tolist()]
        transform._rand_params = lambda: (params['order'][i].numpy(), *factors)
    elif kind is RandomGrayscale:
        transform._random_prob = lambda: 0.0 if params['apply'][i] else 1.0  # fires when random() < prob
    elif kind in (GaussianBlur, FastGaussianBlur, Solarize):
        transform.random_disable = lambda: not bool(params['apply'][i])
        value = params['threshold' if kind is Solarize else 'sigma'][i].item()
        transform.random_magnitude = lambda: value
        if kind is not Solarize and transform.radius is not None:
            transform.radius = value
    else:
        raise AssertionError(kind)


def cpu_pipeline(preset, images, params, fast=False):
    """The CPU transforms of ``preset`` (with ``with_fast_colour``'s FastColorJitter and FastGaussianBlur if ``fast``)
    on each image with the batched pipeline's parameters."""
    out = []
    cfg = with_fast_colour(COLOUR_PRESETS[preset]) if fast else COLOUR_PRESETS[preset]
    for i, img in enumerate(images):
        pipe = build_colour_pipeline(cfg)
        assert (type(pipe.transforms[0].transforms.transforms[0]) is FastColorJitter) == fast
        for t, p in zip(pipe.transforms, params):
            inject(t, p, i)
        out.append(pipe(dict(img=img.copy(), img_shape=img.shape[:2]))['img'])
    return np.stack(out).astype(np.int64)


@pytest.mark.filterwarnings('ignore:Only use')
@pytest.mark.parametrize('fast', [False, True], ids=['ColorJitter', 'FastColorJitter'])
@pytest.mark.parametrize('preset', sorted(COLOUR_PRESETS))
def test_preset_equals_the_cpu_pipeline_for_the_same_parameters(photos, preset, fast):
    images = photos * 4  # 16 samples: every step both on and off somewhere
    pipe = BatchedColourPipeline(with_fast_colour(COLOUR_PRESETS[preset]) if fast else preset)
    assert repr(pipe) == repr(BatchedColourPipeline(preset))  # the Fast* transforms read as the originals
    params = pipe.sample(len(images), torch.Generator().manual_seed(7))
    grey, blur = params[1]['apply'], params[2]['apply']
    assert params[0]['apply'].any() and not params[0]['apply'].all() and grey.any() and not grey.all()
    out = to_images(pipe.apply(to_batch(images), params))
    if not fast:
        assert np.array_equal(out, cpu_pipeline(preset, images, params))
    else:  # FastGaussianBlur is within 2 levels of Pillow's blur (its docstring); the tolerance here
        diff = np.abs(out - cpu_pipeline(preset, images, params, fast=True))
        assert diff.mean() <= 1 and diff.max() <= 8, (diff.mean(), diff.max())
    assert blur.all() == (preset != 'byol-view2')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
@pytest.mark.parametrize('preset', sorted(COLOUR_PRESETS))
def test_gpu_batch_matches_the_cpu_batch(photos, preset):
    images = photos * 4
    pipe = BatchedColourPipeline(preset)
    params = pipe.sample(len(images), torch.Generator().manual_seed(7))
    on_cpu = pipe.apply(to_batch(images), params)
    on_gpu = pipe.apply(to_batch(images).cuda(), params)
    assert on_gpu.is_cuda
    diff = (on_gpu.cpu() - on_cpu).abs()
    assert diff.mean() <= 1 and diff.max() <= 8, (diff.mean(), diff.max())
    # The preprocessor on the GPU: a CPU uint8 batch in, the same colours out on the GPU.
    raw = to_batch(photos).to(torch.uint8)
    data = dict(inputs=[raw, raw.flip(3)], data_samples=None)
    cpu_out = _preprocessor(seed=1)(dict(data), training=True)['inputs']
    gpu_out = _preprocessor(seed=1).cuda()(dict(data), training=True)['inputs']
    for got, want in zip(gpu_out, cpu_out):
        assert got.is_cuda
        levels = ((got.cpu() - want) * torch.tensor(STD).view(1, 3, 1, 1)).abs()  # back to grey levels
        assert levels.mean() <= 1 and levels.max() <= 8 + 1e-3


def _binomial_ok(hits, n, p, z=4.5):
    """``hits`` of ``n`` trials is within z standard deviations of probability ``p``."""
    if p in (0, 1):
        return hits == n * p
    return abs(hits - n * p) <= z * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize('preset', sorted(COLOUR_PRESETS))
def test_parameter_statistics_match_the_cpu_pipeline(preset):
    n = 20000
    cfg = COLOUR_PRESETS[preset]
    jitter_cfg, grey_cfg, blur_cfg, sol_cfg = cfg
    apply_p, grey_p, blur_p, sol_p = jitter_cfg['prob'], grey_cfg['prob'], blur_cfg['prob'], sol_cfg['prob']
    jitter, grey, blur, sol = BatchedColourPipeline(preset).sample(n, torch.Generator().manual_seed(11))
    # Application rates within binomial confidence (z = 4.5) of the configured probabilities.
    for params, p in [(jitter, apply_p), (grey, grey_p), (blur, blur_p), (sol, sol_p)]:
        assert _binomial_ok(int(params['apply'].sum()), n, p), (int(params['apply'].sum()), p)
    # Independent coins: grey fires as often among jittered samples as among the others.
    on = jitter['apply']
    assert _binomial_ok(int((grey['apply'] & on).sum()), int(on.sum()), grey_p)
    # Jitter factors: uniform on [1 - x, 1 + x] / [-h, h] (mean in range, extremes near the ends, KS test).
    j = jitter_cfg['transforms'][0]
    ranges = [(1 - j['brightness'], 1 + j['brightness']), (1 - j['contrast'], 1 + j['contrast']),
              (1 - j['saturation'], 1 + j['saturation']), (-j['hue'], j['hue'])]
    factors = jitter['inner'][0]['factors']
    for k, (lo, hi) in enumerate(ranges):
        f = factors[:, k].numpy()
        assert lo <= f.min() < lo + 0.01 * (hi - lo) and hi - 0.01 * (hi - lo) < f.max() < hi
        assert abs(f.mean() - (lo + hi) / 2) <= 4.5 * (hi - lo) / math.sqrt(12 * n)
        assert stats.kstest(f, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-4
    # Permutations: all 24 orders equally likely (chi-square, 23 degrees of freedom).
    order = jitter['inner'][0]['order']
    codes = (order * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = torch.bincount(codes, minlength=256)
    counts = counts[counts > 0].numpy()
    assert len(counts) == 24 and sorted(order[0].tolist()) == [0, 1, 2, 3]
    assert stats.chisquare(counts).pvalue > 1e-4
    # Blur sigma: the CPU's magnitude mapping, U(0, 10) / 10 * (2.0 - 0.1) + 0.1 = U(0.1, 2.0).
    sigma = blur['sigma'].numpy()
    assert stats.kstest(sigma, stats.uniform(0.1, 1.9).cdf).pvalue > 1e-4
    assert torch.all(sol['threshold'] == 128)


def test_parameter_distributions_equal_the_cpu_transforms_own_draws():
    # The CPU transforms' own random methods (numpy), against the batched sampler: two-sample KS tests.
    np.random.seed(0)
    n = 4000
    jitter_t = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    blur_t = GaussianBlur(magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0)
    cpu_factors = np.array([jitter_t._rand_params()[1:] for _ in range(n)])  # (n, 4)
    cpu_sigma = np.array([blur_t.random_magnitude() for _ in range(n)])
    jitter, _, blur, _ = BatchedColourPipeline('byol-view1').sample(n, torch.Generator().manual_seed(5))
    ours = jitter['inner'][0]['factors'].numpy()
    for k in range(4):
        assert stats.ks_2samp(cpu_factors[:, k], ours[:, k]).pvalue > 1e-4
    assert stats.ks_2samp(cpu_sigma, blur['sigma'].numpy()).pvalue > 1e-4


@pytest.mark.parametrize('cfg,message', [
    ([dict(type='RandomFlip', prob=0.5)], 'RandomFlip has no batched version'),
    ([dict(type='ColorJitter', brightness=0.4, backend='cv2')], "backend 'cv2'"),
    ([dict(type='RandomGrayscale', prob=0.2, keep_channels=False)], 'keep_channels=True'),
    ([dict(type='RandomApply', transforms=[dict(type='Posterize', bits=4)], prob=0.5)], 'Posterize'),
    ('byol-view3', 'unknown colour preset'),
])
def test_unsupported_configs_raise_clear_errors(cfg, message):
    with pytest.raises(ValueError, match=message):
        BatchedColourPipeline(cfg)


def _preprocessor(views=('byol-view1', 'byol-view2'), **kwargs):
    return ColourAugDataPreprocessor(view_pipelines=list(views), mean=MEAN, std=STD, to_rgb=True, **kwargs)


def test_bad_preprocessor_arguments_raise():
    with pytest.raises(ValueError, match='one colour pipeline per view'):
        ColourAugDataPreprocessor(view_pipelines='byol-view1')
    with pytest.raises(ValueError, match='seed'):
        _preprocessor(seed=-1)
    pre = _preprocessor()
    data = dict(inputs=[torch.zeros(2, 3, 8, 8, dtype=torch.uint8)] * 3, data_samples=None)
    with pytest.raises(ValueError, match='2 view pipelines but the batch has 3 views'):
        pre(data, training=True)
    with pytest.raises(ValueError, match='colours uint8 views'):
        pre(dict(inputs=[torch.zeros(2, 3, 8, 8)] * 2, data_samples=None), training=True)


def _draw(pre, n=8):
    """The first view's parameters of one call of ``pre``'s colour stream, as one flat tensor."""
    jitter, grey, blur, sol = pre.colour_views[0].sample(n, pre.colour_generator())
    inner = jitter['inner'][0]
    return torch.cat([
        jitter['apply'].double(), inner['order'].flatten().double(), inner['factors'].flatten(), grey['apply'].double(),
        blur['sigma'], sol['apply'].double()
    ])


def _set_iter(iteration):
    """Set ``iter`` in the current MessageHub (the latest created one, which the preprocessor reads)."""
    MessageHub.get_instance('mmlc_colour_tests')  # makes sure one exists
    MessageHub.get_current_instance().update_info('iter', iteration)


def _at(rank, iteration, monkeypatch, pre=None):
    """A fresh preprocessor's (or ``pre``'s) draw at ``rank`` and MessageHub ``iter`` = ``iteration``."""
    monkeypatch.setattr(preprocessor_module, 'get_rank', lambda: rank)
    _set_iter(iteration)
    return _draw(pre or _preprocessor())


def test_stream_per_rank_and_iteration(monkeypatch):
    torch.manual_seed(0)
    draws = {(r, i): _at(r, i, monkeypatch) for r in range(3) for i in range(3)}
    for key, value in draws.items():
        assert torch.equal(_at(*key, monkeypatch), value)  # same (rank, iteration), same parameters
        for other, other_value in draws.items():
            if other != key:
                assert not torch.equal(value, other_value), (key, other)
    # A second call in the same iteration (e.g. a second batch) draws new parameters, the next iteration restarts.
    pre = _preprocessor()
    first, second = _at(0, 5, monkeypatch, pre), _at(0, 5, monkeypatch, pre)
    assert torch.equal(first, _at(0, 5, monkeypatch)) and not torch.equal(first, second)
    assert torch.equal(_at(0, 6, monkeypatch, pre), _at(0, 6, monkeypatch))
    # The base seed: the run's seed (torch.initial_seed) unless given.
    torch.manual_seed(1)
    assert not torch.equal(_at(0, 0, monkeypatch), draws[(0, 0)])
    assert torch.equal(_at(0, 0, monkeypatch, _preprocessor(seed=0)), draws[(0, 0)])
    torch.manual_seed(0)
    assert torch.equal(_at(0, 0, monkeypatch), draws[(0, 0)])


def _expected_forward(pre, data, rank, iteration, monkeypatch):
    """What ``forward(data, training=True)`` must return: the CPU transforms with the parameters of the stream at
    (rank, iteration), then the RGB flip and normalisation."""
    monkeypatch.setattr(preprocessor_module, 'get_rank', lambda: rank)
    _set_iter(iteration)
    twin = _preprocessor(seed=pre.seed)
    generator = twin.colour_generator()
    out = []
    for view, preset, x in zip(twin.colour_views, ['byol-view1', 'byol-view2'], data['inputs']):
        images = list(x.permute(0, 2, 3, 1).numpy())
        coloured = cpu_pipeline(preset, images, view.sample(len(images), generator))
        rgb = torch.from_numpy(coloured).permute(0, 3, 1, 2).float().flip(1)
        out.append((rgb - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))
    return out


@pytest.mark.filterwarnings('ignore:Only use')
def test_forward_colours_only_when_training(photos, monkeypatch):
    _set_iter(3)
    monkeypatch.setattr(preprocessor_module, 'get_rank', lambda: 0)
    raw = to_batch(photos).to(torch.uint8)
    data = dict(inputs=[raw, raw.flip(3)], data_samples=None)
    pre, plain = _preprocessor(seed=4), SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    # Not training: exactly SelfSupDataPreprocessor's output (no colour, no draw).
    evaluated = pre(dict(data), training=False)['inputs']
    for got, want in zip(evaluated, plain(dict(data), training=False)['inputs']):
        assert torch.equal(got, want)
    trained = pre(dict(data), training=True)['inputs']
    for got, want in zip(trained, _expected_forward(pre, data, 0, 3, monkeypatch)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert not torch.equal(trained[0], evaluated[0]) and not torch.equal(trained[1], evaluated[1])
    assert raw.dtype == torch.uint8 and torch.equal(data['inputs'][0], raw)  # the batch is not modified in place


_WORKER = textwrap.dedent('''
    import os, sys
    import torch, torch.distributed as dist
    from mmengine.logging import MessageHub
    from mmengine.runner import set_random_seed
    import mmlc  # noqa: F401
    from mmlc.models.data_preprocessors import ColourAugDataPreprocessor
    rank = int(os.environ['RANK'])
    dist.init_process_group('gloo', rank=rank, world_size=2)
    set_random_seed(0)  # mmengine's default: every rank seeded alike
    data = torch.load(sys.argv[1])
    MessageHub.get_instance('worker').update_info('iter', 3)
    out = {}
    for name in ('first', 'again'):  # two preprocessors at the same (rank, iteration)
        pre = ColourAugDataPreprocessor(['byol-view1', 'byol-view2'], mean=%r, std=%r, to_rgb=True)
        out[name] = pre(dict(inputs=list(data), data_samples=None), training=True)['inputs']
    gathered = [None, None]
    dist.all_gather_object(gathered, (torch.initial_seed(), out['first']))
    if rank == 0:
        torch.save(gathered, sys.argv[2])
    torch.save(out, sys.argv[2] + f'.rank{rank}')
    dist.destroy_process_group()
''' % (MEAN, STD))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.filterwarnings('ignore:Only use')
def test_two_gloo_processes_draw_different_colours(photos, tmp_path, monkeypatch):
    raw = to_batch(photos).to(torch.uint8)
    inputs = [raw, raw.flip(3)]
    torch.save(inputs, tmp_path / 'data.pt')
    (tmp_path / 'worker.py').write_text(_WORKER)
    env = dict(
        os.environ,
        PYTHONPATH=REPO_ROOT,
        OMP_NUM_THREADS='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(_free_port()),
        WORLD_SIZE='2')
    procs = [
        subprocess.Popen(
            [sys.executable,
             str(tmp_path / 'worker.py'),
             str(tmp_path / 'data.pt'),
             str(tmp_path / 'out.pt')],
            env=dict(env, RANK=str(r)),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True) for r in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), '\n'.join(log[-3000:] for log in logs)
    (seed0, out0), (seed1, out1) = torch.load(tmp_path / 'out.pt', weights_only=False)
    assert seed0 == seed1 == 0  # the ranks were seeded alike ...
    assert not torch.equal(out0[0], out1[0]) and not torch.equal(out0[1], out1[1])  # ... yet coloured differently
    for rank, out in enumerate([out0, out1]):
        again = torch.load(tmp_path / f'out.pt.rank{rank}', weights_only=False)['again']
        assert all(torch.equal(a, b) for a, b in zip(again, out))  # same (rank, iteration): same colours
        # And each rank's output is the CPU transforms with the stream's parameters at (that rank, iteration 3).
        torch.manual_seed(0)
        want = _expected_forward(_preprocessor(), dict(inputs=inputs), rank, 3, monkeypatch)
        for got, w in zip(out, want):
            torch.testing.assert_close(got, w, rtol=0, atol=1e-5)


class _Record:
    """Forward hooks on the data preprocessor: the raw batch and the output of every training call."""

    def __init__(self, module):
        self.calls = []
        module.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output):
        data = args[0] if args else kwargs['data']
        training = args[1] if len(args) > 1 else kwargs.get('training', False)
        if training:
            iteration = MessageHub.get_current_instance().get_info('iter')
            self.calls.append((iteration, [x.clone() for x in data['inputs']], [x.clone() for x in output['inputs']]))


@pytest.mark.filterwarnings('ignore:Only use')
def test_demo_variant_trains_through_the_runner_and_resumes_the_stream(tmp_path, monkeypatch):
    from mmengine.runner import Runner
    cfg = Config.fromfile(DEMO_VARIANT)
    dataset_transform = cfg.train_dataloader.dataset.pipeline[1]
    assert (dataset_transform.c_pipeline, dataset_transform.sc_pipeline) == ([], [])
    cfg.merge_from_dict({
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_cfg.max_iters': 2,
        'train_dataloader.dataset.pipeline.1.size': 64,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 2,
        'default_hooks.logger.interval': 1
    })
    cfg.custom_hooks = []

    def train(work_dir, **extra):
        run_cfg = cfg.copy()
        run_cfg.merge_from_dict(dict(work_dir=str(work_dir), **extra))
        runner = Runner.from_cfg(run_cfg)
        assert type(runner.model.data_preprocessor) is ColourAugDataPreprocessor
        record = _Record(runner.model.data_preprocessor)
        runner.train()
        assert runner.iter == 2
        return record.calls

    straight = train(tmp_path / 'straight')
    # Resumed from iteration 1, the run draws iteration 1's colours again (a fresh counter would redraw iteration 0's).
    resumed = train(tmp_path / 'resumed', resume=True, load_from=str(tmp_path / 'straight' / 'iter_1.pth'))
    assert [c[0] for c in straight] == [0, 1] and [c[0] for c in resumed] == [1]
    for iteration, raw, out in straight + resumed:
        # The workers delivered uncoloured uint8 views; the preprocessor coloured them with the stream of
        # (run seed 0, rank 0, this iteration), i.e. as the CPU transforms would with those parameters.
        assert raw[0].dtype == torch.uint8 and raw[0].shape == (4, 3, 64, 64)
        torch.manual_seed(cfg.randomness.seed)
        want = _expected_forward(_preprocessor(), dict(inputs=raw), 0, iteration, monkeypatch)
        for got, w in zip(out, want):
            torch.testing.assert_close(got, w, rtol=0, atol=1e-5)


def test_paper_variant_builds_with_the_paper_colour_pipelines():
    cfg = Config.fromfile(PAPER_VARIANT)
    base = Config.fromfile(osp.join(BYOL_LC_DIR, 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'))
    init_default_scope('mmpretrain')
    # The views' colour: the paper config's CPU pipelines, moved; the workers keep none.
    base_t = PairedCorrespondenceTransform(**{
        k: v
        for k, v in base.train_dataloader.dataset.pipeline[1].items() if k != 'type'
    })
    pre_cfg = cfg.data_preprocessor
    pre = MODELS.build(pre_cfg)
    assert [v.cfg for v in pre.colour_views] == [base_t.c_pipeline_cfg, base_t.sc_pipeline_cfg]
    variant_t = cfg.train_dataloader.dataset.pipeline[1]
    assert (variant_t.size, variant_t.c_pipeline, variant_t.sc_pipeline) == (224, [], [])
    assert (pre_cfg.mean, pre_cfg.std, pre_cfg.to_rgb) == (base.data_preprocessor.mean, base.data_preprocessor.std,
                                                           True)
    cfg.model.data_preprocessor = pre_cfg
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'BYOLLocalContrast' and type(model.data_preprocessor) is ColourAugDataPreprocessor
    assert cfg.train_dataloader.batch_size == 256 and cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_bench_colour_smoke():
    out = load_script('benchmarks/bench_colour.py').main(['--smoke'])
    assert 'ms per sample' in out and 'ratio' in out

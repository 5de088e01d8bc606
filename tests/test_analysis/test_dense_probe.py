# Copyright (c) mmlc contributors. All rights reserved.
"""Dense probe: IoU arithmetic (by hand and against mmseg's IoUMetric), patch labels, kNN voting, the linear
probe and its lr sweep on synthetic features, and the tool end to end on a generated mmseg-layout folder."""

import json
import math
import os.path as osp
from fractions import Fraction

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from mmlc.analysis import (build_memory_bank, channel_stats, check_label_values, confusion_matrix, evaluate_score_maps,
                           knn_class_scores, knn_score_maps, linear_logits, loss_plateaued, lr_sweep,
                           patch_label_histograms, resize_labels, scores_as_dict, scores_from_confusion, split_indices,
                           standardise, train_linear_probe)
from conftest import REPO_ROOT, load_script

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'dense_probe.py')


@pytest.fixture(autouse=True)
def _one_thread():
    """The tensors here are tiny: with two intra-op threads on cores that other jobs share, most of the time
    goes to threads waiting for each other (measured: several times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------------
# IoU arithmetic
# --------------------------------------------------------------------------------------------------
def test_iou_of_a_hand_worked_case():
    # K = 4. The top-right pixel is ignored (its prediction, class 3, therefore counts nowhere).
    #   label  0  1  255      pred  0  2  3
    #          1  1  0              1  1  0
    # Scored (gt, pred) pairs: (0,0) (1,2) (1,1) (1,1) (0,0).
    # class 0: I 2, gt 2, pred 2 -> IoU 2/2 = 1,   Acc 2/2 = 1
    # class 1: I 2, gt 3, pred 2 -> IoU 2/3,       Acc 2/3
    # class 2: I 0, gt 0, pred 1 -> IoU 0/1 = 0,   Acc 0/0 = NaN (absent from the ground truth)
    # class 3: I 0, gt 0, pred 0 -> IoU 0/0 = NaN, Acc NaN (absent from both: left out of the means)
    # mIoU = (1 + 2/3 + 0) / 3 = 5/9; mAcc = (1 + 2/3) / 2 = 5/6; aAcc = 4 correct / 5 scored.
    label = torch.tensor([[0, 1, 255], [1, 1, 0]])
    pred = torch.tensor([[0, 2, 3], [1, 1, 0]])
    conf = confusion_matrix(pred, label, num_classes=4)
    assert conf.tolist() == [[2, 0, 0, 0], [0, 2, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    scores = scores_from_confusion(conf)
    np.testing.assert_allclose(scores.iou, [1, 2 / 3, 0, np.nan])
    np.testing.assert_allclose(scores.acc, [1, 2 / 3, np.nan, np.nan])
    assert math.isclose(scores.miou, 5 / 9) and math.isclose(scores.macc, 5 / 6) and math.isclose(scores.aacc, 0.8)
    report = scores_as_dict(scores, ['a', 'b', 'c', 'd'])
    assert report['per_class'][3] == dict(name='d', IoU=None, Acc=None)  # NaN -> null in the JSON report
    assert report['per_class'][2]['IoU'] == 0.0 and report['per_class'][2]['Acc'] is None


def test_everything_ignored_gives_nan_not_an_error():
    scores = scores_from_confusion(confusion_matrix(torch.zeros(2, 2), torch.full((2, 2), 255), 3))
    assert math.isnan(scores.miou) and math.isnan(scores.aacc) and np.isnan(scores.iou).all()


def test_confusion_matrix_against_a_loop():
    gen = torch.Generator().manual_seed(1)
    label = torch.randint(0, 5, (7, 9), generator=gen)
    label[torch.rand(7, 9, generator=gen) < 0.2] = 255
    pred = torch.randint(0, 5, (7, 9), generator=gen)
    expected = np.zeros((5, 5), dtype=np.int64)
    for g, p in zip(label.flatten().tolist(), pred.flatten().tolist()):
        if g != 255:
            expected[g, p] += 1
    assert (confusion_matrix(pred, label, 5).numpy() == expected).all()
    with pytest.raises(ValueError, match='label values'):
        confusion_matrix(pred, torch.full_like(label, 5), 5)
    with pytest.raises(ValueError, match='predicted classes'):
        confusion_matrix(torch.full_like(pred, 5), label, 5)


def test_iou_matches_mmseg_iou_metric_on_random_maps():
    pytest.importorskip('mmseg')
    from mmseg.evaluation import IoUMetric
    gen = torch.Generator().manual_seed(0)
    num_classes = 6  # class 5 never occurs in labels or predictions -> NaN in both implementations
    preds, labels = [], []
    for height, width in [(17, 23), (32, 32), (9, 40)]:
        label = torch.randint(0, 5, (height, width), generator=gen)
        label[torch.rand(height, width, generator=gen) < 0.15] = 255
        pred = torch.where(
            torch.rand(height, width, generator=gen) < 0.6, label.clamp(max=4),
            torch.randint(0, 5, (height, width), generator=gen))
        preds.append(pred)
        labels.append(label)
    conf = sum(confusion_matrix(p, g, num_classes) for p, g in zip(preds, labels))
    ours = scores_from_confusion(conf)

    # Unrounded: mmseg's own per-image areas and its area -> metric arithmetic.
    areas = [IoUMetric.intersect_and_union(p, g, num_classes, 255) for p, g in zip(preds, labels)]
    ref = IoUMetric.total_area_to_metrics(*[sum(a[i] for a in areas) for i in range(4)], metrics=['mIoU'])
    assert np.isnan(ours.iou[5]) and np.isnan(ref['IoU'][5])
    np.testing.assert_allclose(ours.iou, ref['IoU'], rtol=1e-6)
    np.testing.assert_allclose(ours.acc, ref['Acc'], rtol=1e-6)
    assert math.isclose(ours.aacc, float(ref['aAcc']), rel_tol=1e-6)

    # Through the metric's public interface (percent, rounded to 2 decimals).
    metric = IoUMetric(ignore_index=255)
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(num_classes)])
    metric.process(
        {}, [dict(pred_sem_seg=dict(data=p[None]), gt_sem_seg=dict(data=g[None])) for p, g in zip(preds, labels)])
    result = metric.compute_metrics(metric.results)
    assert result['mIoU'] == pytest.approx(100 * ours.miou, abs=0.006)
    assert result['mAcc'] == pytest.approx(100 * ours.macc, abs=0.006)
    assert result['aAcc'] == pytest.approx(100 * ours.aacc, abs=0.006)


def test_check_label_values():
    check_label_values(np.array([[0, 2, 255]]), 3)
    with pytest.raises(ValueError, match=r'x\.png: label values \[3, 254\]'):
        check_label_values(np.array([[0, 3, 254, 255]]), 3, name='x.png')


# --------------------------------------------------------------------------------------------------
# Labels on the feature grid
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('size,grid', [((8, 12), (2, 3)), ((10, 7), (3, 2)), ((5, 5), (5, 5))])
def test_patch_label_histograms_against_a_loop(size, grid):
    gen = torch.Generator().manual_seed(2)
    label = torch.randint(0, 4, size, generator=gen)
    label[torch.rand(size, generator=gen) < 0.2] = 255
    expected = np.zeros(grid + (4, ))
    for y in range(size[0]):
        for x in range(size[1]):
            if label[y, x] != 255:  # the cell containing the pixel centre, in exact arithmetic
                row = math.floor((Fraction(y) + Fraction(1, 2)) * grid[0] / size[0])
                col = math.floor((Fraction(x) + Fraction(1, 2)) * grid[1] / size[1])
                expected[row, col, label[y, x]] += 1
    hist = patch_label_histograms(label, grid, 4)
    np.testing.assert_array_equal(hist.numpy(), expected)
    assert hist.sum() == (label != 255).sum()  # every scored pixel counted exactly once


def test_resize_labels_keeps_aligned_blocks():
    blocks = torch.tensor([[0, 1, 2], [3, 255, 0]])
    label = blocks.repeat_interleave(4, 0).repeat_interleave(4, 1)  # (8, 12), 4x4 blocks
    assert resize_labels([label], (2, 3)).tolist() == [blocks.tolist()]
    assert resize_labels([label, label], (8, 12)).equal(torch.stack([label, label]))


# --------------------------------------------------------------------------------------------------
# Probes on synthetic features
# --------------------------------------------------------------------------------------------------
def _stripes(num, embed, grid, ratio, gen, noise=0.1):
    """Features = class embedding + noise per cell; each row of cells has one class (horizontal stripes,
    so bilinear upsampling only blends two classes across a row border). Labels: cells as ratio x ratio
    pixel blocks."""
    num_classes, channels = embed.shape
    cls = torch.randint(0, num_classes, (num, grid, 1), generator=gen).expand(num, grid, grid)  # (N, g, g)
    feats = embed[cls].permute(0, 3, 1, 2) + noise * torch.randn(num, channels, grid, grid, generator=gen)
    labels = cls.repeat_interleave(ratio, 1).repeat_interleave(ratio, 2)  # (N, g * r, g * r)
    return feats, labels


def test_separable_features_give_full_miou():
    gen = torch.Generator().manual_seed(0)
    embed = 3 * torch.randn(4, 8, generator=gen)
    train_f, train_l = _stripes(40, embed, grid=6, ratio=4, gen=gen)
    val_f, val_l = _stripes(20, embed, grid=6, ratio=4, gen=gen)

    # kNN: every retrieved patch is pure and of the query's class, so each cell's class distribution is
    # one-hot; across a row border the nearer cell has bilinear weight > 1/2, so every pixel is right.
    keys, values = build_memory_bank(train_f, list(train_l), 4)
    knn = evaluate_score_maps(knn_score_maps(val_f, keys, values, k=5), list(val_l), 4)
    assert knn.miou == 1.0 and knn.aacc == 1.0

    # Linear: only pixels next to a row border could flip (the two classes' margins need not be equal).
    mean, std = channel_stats(train_f)
    probe = train_linear_probe(standardise(train_f, mean, std), train_l, 4, lr=1e-2, epochs=30, batch_size=8)
    linear = evaluate_score_maps(probe.logits(standardise(val_f, mean, std)), list(val_l), 4)
    assert linear.miou >= 0.99 and linear.aacc >= 0.99
    assert probe.losses[-1] < probe.losses[0] / 4 and probe.converged


def test_labels_independent_of_features_give_chance():
    # Bound: if predictions are independent of labels with class frequencies p_k = 1/K (labels) and q_k
    # (predictions), then in the large-sample limit I_k = p_k q_k and U_k = p_k + q_k - p_k q_k, so
    # IoU_k = q_k / (1 + (K - 1) q_k), a concave function of q_k; its mean over k under sum(q) = 1 is
    # largest at q_k = 1/K: mIoU <= 1 / (2K - 1), and aAcc = sum p_k q_k = 1/K whatever q is.
    # 100 val images x 8 x 8 independent cells: sampling error about 0.01; we allow 0.02 / 0.03.
    num_classes = 3
    bound = 1 / (2 * num_classes - 1)
    gen = torch.Generator().manual_seed(0)

    def random_set(num):
        cells = torch.randint(0, num_classes, (num, 8, 8), generator=gen)
        return torch.randn(num, 16, 8, 8, generator=gen), cells.repeat_interleave(4, 1).repeat_interleave(4, 2)

    train_f, train_l = random_set(60)
    val_f, val_l = random_set(100)
    mean, std = channel_stats(train_f)
    probe = train_linear_probe(standardise(train_f, mean, std), train_l, num_classes, lr=1e-2, epochs=20)
    linear = evaluate_score_maps(probe.logits(standardise(val_f, mean, std)), list(val_l), num_classes)
    keys, values = build_memory_bank(train_f, list(train_l), num_classes)
    knn = evaluate_score_maps(knn_score_maps(val_f, keys, values), list(val_l), num_classes)
    for scores in (linear, knn):
        assert scores.miou < bound + 0.02
        assert abs(scores.aacc - 1 / num_classes) < 0.03


def _signal_in_noise(num, gen, num_classes=2, channels=64, grid=6):
    """Channel 0 carries the cell's class, the other 63 channels are pure noise."""
    cls = torch.randint(0, num_classes, (num, grid, grid), generator=gen)
    feats = torch.randn(num, channels, grid, grid, generator=gen)
    feats[:, 0] = 2. * cls - 1 + 0.1 * torch.randn(num, grid, grid, generator=gen)
    return feats, cls.repeat_interleave(2, 1).repeat_interleave(2, 2)


def test_lr_sweep_picks_the_lr_with_the_best_held_out_score():
    # Adam's first steps move every weight by about +-lr whatever its gradient's size, so with lr 1e-5 the
    # classifier stays near the sign of the initial gradient: the 63 noise channels get as much weight as
    # the signal channel and it is near chance. lr 0.1 reaches the logistic-regression solution.
    gen = torch.Generator().manual_seed(0)
    fit_f, fit_l = _signal_in_noise(40, gen)
    held_f, held_l = _signal_in_noise(20, gen)
    kwargs = dict(epochs=10, batch_size=20)
    sweep = lr_sweep(fit_f, fit_l, held_f, list(held_l), 2, [1e-5, 1e-1], **kwargs)
    held = [s.miou for s in sweep.scores]
    assert held[0] < 0.6 and held[1] > 0.9 and sweep.best_lr == 0.1
    # Each held-out score is the score of a classifier trained on the fitting part alone.
    for lr, score in zip(sweep.lrs, held):
        probe = train_linear_probe(fit_f, fit_l, 2, lr, **kwargs)
        assert evaluate_score_maps(probe.logits(held_f), list(held_l), 2).miou == pytest.approx(score)

    # Swap the two classes in the held-out labels only: the well-trained classifier is now always wrong
    # there, so the sweep must prefer the lr whose training loss is far worse.
    swapped = lr_sweep(fit_f, fit_l, held_f, list(1 - held_l), 2, [1e-5, 1e-1], **kwargs)
    assert swapped.best_lr == 1e-5 and swapped.scores[1].miou < 0.05
    assert swapped.probes[1].losses[-1] < swapped.probes[0].losses[-1]


def test_split_indices():
    fit, held = split_indices(10, 0.2, seed=3)
    assert held.size == 2 and fit.size == 8 and sorted(np.concatenate([fit, held]).tolist()) == list(range(10))
    assert all((a == b).all() for a, b in zip((fit, held), split_indices(10, 0.2, seed=3)))
    assert split_indices(2, 0.01)[1].size == 1 and split_indices(3, 0.99)[0].size == 1  # >= 1 on each side
    with pytest.raises(ValueError, match='at least 2'):
        split_indices(1, 0.2)
    with pytest.raises(ValueError, match=r'in \(0, 1\)'):
        split_indices(10, 0.)


def test_linear_logits_is_a_1x1_convolution():
    gen = torch.Generator().manual_seed(0)
    feats, weight, bias = torch.randn(2, 5, 3, 4, generator=gen), torch.randn(7, 5, generator=gen), torch.randn(7)
    np.testing.assert_allclose(
        linear_logits(feats, weight, bias), F.conv2d(feats, weight[:, :, None, None], bias), rtol=1e-5, atol=1e-6)


def test_loss_plateaued_by_hand():
    assert loss_plateaued([1.0, 0.5, 0.495], window=1)  # fell by 0.005 < 0.01
    assert not loss_plateaued([1.0, 0.5, 0.45], window=1)
    assert loss_plateaued([2.0, 1.0, 0.9, 0.5, 0.3, 0.2955])  # default window: 6 // 5 = 1 epoch
    assert not loss_plateaued([0.5])  # too short to tell
    assert not loss_plateaued([1.0, float('nan')], window=1)


def test_knn_class_scores_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    keys = F.normalize(torch.randn(50, 6, generator=gen), dim=1)
    values = torch.softmax(torch.randn(50, 3, generator=gen), dim=1)
    queries = torch.randn(9, 6, generator=gen)
    out = knn_class_scores(queries, keys, values, k=4, temperature=0.1, chunk_size=2)
    for q, row in zip(queries, out):
        sims = [(float(F.normalize(q, dim=0) @ key), j) for j, key in enumerate(keys)]
        top = sorted(sims, reverse=True)[:4]
        weights = np.exp(np.array([s for s, _ in top]) / 0.1)
        expected = sum(w * values[j].numpy() for w, (_, j) in zip(weights / weights.sum(), top))
        np.testing.assert_allclose(row.numpy(), expected, rtol=1e-5, atol=1e-6)
    # A very low temperature is the nearest neighbour's label; k above the bank size is clipped.
    nearest = (F.normalize(queries, dim=1) @ keys.T).argmax(dim=1)
    np.testing.assert_allclose(
        knn_class_scores(queries, keys, values, k=100, temperature=1e-4), values[nearest], atol=1e-5)


def test_memory_bank_drops_ignored_cells_and_caps_its_size():
    feats = torch.randn(2, 4, 2, 2)
    label = torch.tensor([[0, 0, 255, 255], [0, 1, 255, 255], [1, 1, 2, 2], [1, 1, 2, 2]])  # (4, 4): 2x2 cells
    keys, values = build_memory_bank(feats, [label, label], 3)
    assert keys.shape == (6, 4) and torch.allclose(keys.norm(dim=1), torch.ones(6))  # 3 scored cells per image
    np.testing.assert_allclose(values[:3], [[0.75, 0.25, 0], [0, 1, 0], [0, 0, 1]])  # the 255 cell is gone
    np.testing.assert_allclose(keys[1], F.normalize(feats[0, :, 1, 0], dim=0), rtol=1e-6)
    keys, values = build_memory_bank(feats, [label, label], 3, max_size=4, seed=0)
    assert keys.shape == (4, 4) and values.shape == (4, 3)


# --------------------------------------------------------------------------------------------------
# The tool
# --------------------------------------------------------------------------------------------------
#: BGR colours of classes 1, 2, ... in the generated images (class 0 is the grey background).
COLOURS = ((0, 0, 255), (255, 0, 0), (0, 255, 0), (0, 255, 255), (255, 0, 255))


def write_seg_split(root, split, num, size, seed, ext='.png', num_classes=3):
    """Write ``num`` images of an mmseg-layout split: a grey noisy background (class 0) with one noisy
    rectangle of each class 1..num_classes-1 in its colour (later ones on top); the top row of label
    pixels is 255 (ignore).

    Also used by docs/dense_probe.md to generate its timing set.
    """
    rng = np.random.default_rng(seed)
    (root / 'img_dir' / split).mkdir(parents=True, exist_ok=True)
    (root / 'ann_dir' / split).mkdir(parents=True, exist_ok=True)
    for i in range(num):
        img = rng.normal(128, 20, size=(size, size, 3))
        label = np.zeros((size, size), dtype=np.uint8)
        for cls in range(1, num_classes):
            y, x = rng.integers(0, size // 2, size=2)
            h, w = rng.integers(size // 4, size // 2, size=2)
            img[y:y + h, x:x + w] = np.array(COLOURS[cls - 1]) + rng.normal(0, 10, size=(h, w, 3))
            label[y:y + h, x:x + w] = cls
        label[0] = 255
        mmcv.imwrite(np.clip(img, 0, 255).astype(np.uint8), str(root / 'img_dir' / split / f'{i:03d}{ext}'))
        mmcv.imwrite(label, str(root / 'ann_dir' / split / f'{i:03d}.png'))


@pytest.fixture
def seg_root(tmp_path):
    root = tmp_path / 'seg'
    write_seg_split(root, 'train', 6, 64, seed=0, ext='.jpg')
    write_seg_split(root, 'val', 4, 64, seed=1)
    return root


def test_tool_end_to_end_with_a_feature_cache(seg_root, tmp_path, monkeypatch):
    torch.manual_seed(0)
    ckpt = tmp_path / 'r18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), ckpt)
    (tmp_path / 'classes.txt').write_text('background\nred\nblue\n')
    tool = load_script(TOOL)
    common = [
        'auto',
        str(ckpt), '--data',
        str(seg_root), '--classes',
        str(tmp_path / 'classes.txt'), '--size', '64', '--stage', '1', '--cache-dir',
        str(tmp_path / 'cache'), '--device', 'cpu', '--no-progress'
    ]
    linear = common + ['--lrs', '1e-3', '1e-2', '--epochs', '5', '--train-label-size', '32', '--val-fraction', '0.34']
    out = tmp_path / 'report.json'
    report = tool.main(linear + ['--out', str(out)])

    assert report['mode'] == 'linear' and report['num_train'] == 6 and report['num_val'] == 4
    assert report['classes'] == ['background', 'red', 'blue']
    assert [c['name'] for c in report['per_class']] == ['background', 'red', 'blue']
    assert report['feature_shape'] == [128, 8, 8]  # ResNet-18 stage 1 at 64 px: stride 8
    assert 0 <= report['mIoU'] <= 1 and 0 <= report['aAcc'] <= 1
    ious = [c['IoU'] for c in report['per_class']]
    assert report['mIoU'] == pytest.approx(np.mean(ious))  # every class occurs in val
    sweep = report['linear']
    assert sweep['num_fit'] == 4 and sweep['num_held_out'] == 2
    assert [run['lr'] for run in sweep['sweep']] == [1e-3, 1e-2]
    held = [run['held_out_mIoU'] for run in sweep['sweep']]
    assert sweep['best_lr'] == [1e-3, 1e-2][int(np.argmax(held))]
    assert len(sweep['losses']) == 5
    assert not report['timing']['features_cached'] and report['timing']['total_s'] > 0
    written = json.loads(out.read_text())
    assert written['mIoU'] == report['mIoU'] and written['linear']['sweep'] == sweep['sweep']

    # The cache holds plain tensors, loadable with weights_only=True.
    cache_file = report['cache_file']
    assert osp.dirname(cache_file) == str(tmp_path / 'cache')
    cached = torch.load(cache_file, weights_only=True)
    assert cached['train'].shape == (6, 128, 8, 8) and cached['val'].shape == (4, 128, 8, 8)

    # Second runs must not extract: make extraction impossible. Same options -> same result from the cache.
    def no_extraction(*args, **kwargs):
        raise AssertionError('features were extracted again')

    monkeypatch.setattr(tool, 'build_feature_extractor', no_extraction)
    again = tool.main(linear)
    assert again['timing']['features_cached'] and again['mIoU'] == report['mIoU']
    knn = tool.main(common + ['--mode', 'knn', '--k', '5'])  # the probe is not part of the cache key
    assert knn['timing']['features_cached'] and knn['knn']['bank_size'] == 6 * 64
    assert knn['knn']['k'] == 5 and 0 <= knn['mIoU'] <= 1
    with pytest.raises(AssertionError, match='extracted again'):  # another stage is another key
        tool.main(linear[:linear.index('--stage') + 1] + ['2'] + linear[linear.index('--stage') + 2:])


def _run_tool(root, *extra):
    return load_script(TOOL).main(
        ['auto', 'missing.pth', '--data',
         str(root), '--num-classes', '3', '--no-progress', *extra])


def test_tool_errors_on_bad_input(seg_root, monkeypatch):
    (seg_root / 'img_dir' / 'test').mkdir()
    with pytest.raises(FileNotFoundError, match=r'ann_dir/test is not a directory'):
        _run_tool(seg_root, '--val-split', 'test')
    (seg_root / 'ann_dir' / 'test').mkdir()
    with pytest.raises(ValueError, match=r"the 'test' split is empty"):
        _run_tool(seg_root, '--val-split', 'test')

    (seg_root / 'ann_dir' / 'val' / '002.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'1 image\(s\) in .*img_dir/val have no label map .*002\.png'):
        _run_tool(seg_root)
    mmcv.imwrite(np.full((64, 64), 3, np.uint8), str(seg_root / 'ann_dir' / 'val' / '002.png'))
    with pytest.raises(ValueError, match=r'val/002\.png: label values \[3\] are not class indices 0\.\.2'):
        _run_tool(seg_root)
    mmcv.imwrite(np.zeros((64, 64, 3), np.uint8), str(seg_root / 'ann_dir' / 'val' / '002.png'))
    with pytest.raises(ValueError, match='single-channel'):
        _run_tool(seg_root)
    mmcv.imwrite(np.zeros((32, 64), np.uint8), str(seg_root / 'ann_dir' / 'val' / '002.png'))

    class Extractor:  # stands in for the network: the size check happens while images are read

        def extract(self, images):
            return torch.zeros(len(images), 2, 1, 1)

    tool = load_script(TOOL)
    monkeypatch.setattr(tool, 'build_feature_extractor', lambda *args, **kwargs: Extractor())
    with pytest.raises(ValueError, match=r'val/002\.png is 64x64 but its label map .*002\.png is 32x64'):
        tool.main(['auto', 'missing.pth', '--data', str(seg_root), '--num-classes', '3', '--no-progress'])
    with pytest.raises(SystemExit):  # no class list
        tool.main(['auto', 'missing.pth', '--data', str(seg_root)])


@pytest.mark.parametrize('reduce_zero_label', [False, True])
def test_labels_are_read_as_mmseg_reads_them(tmp_path, reduce_zero_label):
    pytest.importorskip('mmseg')
    from mmseg.datasets.transforms import LoadAnnotations
    path = str(tmp_path / 'label.png')
    mmcv.imwrite(np.array([[0, 1, 2], [3, 255, 0]], np.uint8), path)
    ours = load_script(TOOL).load_label(path, num_classes=4, reduce_zero_label=reduce_zero_label)
    ref = LoadAnnotations()(dict(seg_map_path=path, reduce_zero_label=reduce_zero_label, seg_fields=[]))['gt_seg_map']
    np.testing.assert_array_equal(ours.numpy(), ref)
    if reduce_zero_label:  # 0 -> ignore, k -> k - 1
        assert ours.tolist() == [[255, 0, 1], [2, 255, 255]]

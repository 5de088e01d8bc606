# Copyright (c) mmlc contributors. All rights reserved.
"""Dense probe of frozen features on a labelled segmentation set: linear (1x1 conv) or nearest-neighbour.

    python tools/analysis/dense_probe.py CONFIG CHECKPOINT --data ROOT --num-classes N [options]

ROOT has mmseg's layout: ROOT/img_dir/{train,val}/NAME.{jpg,png,...} and ROOT/ann_dir/{train,val}/NAME.png,
single-channel maps of class indices with 255 = ignore. Every image is resized to a --size square, its
feature map extracted once (and, with --cache-dir, kept on disk for the next run), and

- ``--mode linear`` (default): a 1x1-conv classifier on channel-standardised features, logits upsampled
  bilinearly, cross-entropy; the lr is picked from --lrs on a held-out part of train (--val-fraction),
  then the classifier is retrained on all of train with it and scored on val;
- ``--mode knn``: Hummingbird retrieval; each val patch takes the softmax(cosine / T)-weighted class
  distribution of its --k nearest train patches.

Predictions are upsampled to each label's own size and scored with mmseg's IoU arithmetic (mIoU over
classes present in the prediction or the ground truth, per-class IoU, aAcc). CONFIG is a config whose
``model.backbone`` matches the checkpoint, or ``auto`` to infer a plain ResNet or ViT (the head count from
--num-heads or the config a Runner checkpoint stores); a ViT's map is its patch tokens on the patch grid.
See docs/dense_probe.md.
"""
import argparse
import hashlib
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Callable, List, Optional, Sequence, Tuple

import mmcv
import mmengine
import numpy as np
import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install

from mmlc.analysis import (IGNORE_INDEX, SegmentationScores, build_feature_extractor, build_memory_bank, channel_stats,
                           check_label_values, evaluate_score_maps, knn_score_maps, load_image, lr_sweep, resize_labels,
                           resize_square, resolve_device, scores_as_dict, split_indices, standardise,
                           train_linear_probe)
from mmlc.analysis.image_io import IMG_EXTENSIONS

CACHE_VERSION = 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Linear / nearest-neighbour dense probe of frozen features')
    parser.add_argument('config', help="config describing model.backbone, or 'auto' for a plain ResNet / ViT")
    parser.add_argument(
        'checkpoint', help='mmlc / mmpretrain checkpoint, torchvision ResNet or bare mmpretrain ViT state dict')
    parser.add_argument('--data', required=True, help='root of an mmseg-layout set (img_dir/, ann_dir/)')
    classes = parser.add_mutually_exclusive_group(required=True)
    classes.add_argument('--classes', help='file with one class name per line (line i = class index i)')
    classes.add_argument('--class-names', nargs='+', help='class names, in index order')
    classes.add_argument('--num-classes', type=int, help='number of classes (named class0, class1, ...)')
    parser.add_argument('--train-split', default='train', help="sub-folder of img_dir/ann_dir (default 'train')")
    parser.add_argument('--val-split', default='val', help="sub-folder of img_dir/ann_dir (default 'val')")
    parser.add_argument(
        '--img-suffix', default=None, help='image name ending, e.g. _leftImg8bit.png (default: any image extension)')
    parser.add_argument('--seg-map-suffix', default='.png', help="label name ending (default '.png')")
    parser.add_argument(
        '--reduce-zero-label',
        action='store_true',
        help="label 0 is 'other' (ADE20K): 0 -> ignore, k -> k - 1, as mmseg does")
    parser.add_argument(
        '--mode',
        choices=['linear', 'knn'],
        default='linear',
        help="'linear' (default): 1x1-conv classifier; 'knn': Hummingbird retrieval")
    parser.add_argument('--size', type=int, default=224, help='images are resized to this square (default 224)')
    parser.add_argument('--stage', type=int, default=-1, help='ResNet stage 0-3 or ViT layer, -1 = last (default)')
    parser.add_argument(
        '--num-heads',
        type=int,
        default=None,
        help='attention heads of a ViT read without a config (not in the weights; '
        'default: the config stored in a Runner checkpoint)')
    parser.add_argument(
        '--local',
        action='store_true',
        help='probe the local projection (mmlc checkpoints) instead of the backbone map')
    parser.add_argument(
        '--local-level',
        type=int,
        default=-1,
        help='with --local on a multi-level model: which local neck (default -1, the last)')
    parser.add_argument(
        '--branch', choices=['online', 'target'], default='online', help='online (default) or EMA target network')
    linear = parser.add_argument_group('linear mode')
    linear.add_argument(
        '--lrs',
        type=float,
        nargs='+',
        default=[1e-4, 1e-3, 1e-2, 1e-1],
        help='Adam learning rates to sweep (default 1e-4 1e-3 1e-2 1e-1); one value: no sweep')
    linear.add_argument(
        '--val-fraction', type=float, default=0.2, help='fraction of train held out to pick the lr (default 0.2)')
    linear.add_argument('--epochs', type=int, default=40, help='epochs per classifier (default 40)')
    linear.add_argument('--train-batch-size', type=int, default=16, help='images per Adam step (default 16)')
    linear.add_argument('--weight-decay', type=float, default=0., help="Adam's L2 penalty (default 0)")
    linear.add_argument(
        '--train-label-size',
        type=int,
        default=64,
        help='training labels are resized (nearest) to this square (default 64)')
    knn = parser.add_argument_group('knn mode')
    knn.add_argument('--k', type=int, default=30, help='neighbours per val patch (default 30)')
    knn.add_argument(
        '--temperature', type=float, default=0.02, help='softmax temperature on cosine similarities (default 0.02)')
    knn.add_argument(
        '--bank-size',
        type=int,
        default=100000,
        help='at most this many train patches in the memory bank (default 100000)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split, batch order, bank subset')
    parser.add_argument('--batch-size', type=int, default=16, help='images per forward pass (default 16)')
    parser.add_argument('--device', default='auto', help="'auto' (cuda if available), 'cpu', 'cuda:0', ...")
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice); 1 is much faster on a busy machine")
    parser.add_argument('--cache-dir', help='keep extracted features here; a rerun with the same inputs reuses them')
    parser.add_argument('--out', help='write the report to this JSON file')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser.parse_args(argv)


def resolve_classes(args: argparse.Namespace) -> List[str]:
    if args.classes:
        with open(args.classes, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
    elif args.class_names:
        names = list(args.class_names)
    else:
        names = [f'class{i}' for i in range(args.num_classes)]
    if not names:
        raise ValueError('no classes given')
    if len(names) > IGNORE_INDEX:
        raise ValueError(f'at most {IGNORE_INDEX} classes: {IGNORE_INDEX} is the ignore index')
    return names


def find_pairs(root: str, split: str, img_suffix: Optional[str], seg_map_suffix: str) -> List[Tuple[str, str]]:
    """(image, label) paths of one split, matched by their path below img_dir/<split> minus the suffix.

    Written here rather than through mmseg's ``BaseSegDataset``, which takes one fixed image suffix and
    does not notice missing label files.
    """
    img_root, ann_root = osp.join(root, 'img_dir', split), osp.join(root, 'ann_dir', split)
    for folder in (img_root, ann_root):
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder} is not a directory; expected the mmseg layout ROOT/img_dir/{split}/'
                                    f'<name>.jpg|png and ROOT/ann_dir/{split}/<name>{seg_map_suffix}')
    suffixes = (img_suffix, ) if img_suffix else IMG_EXTENSIONS
    pairs, missing, stems = [], [], {}
    for dirpath, _, names in sorted(os.walk(img_root, followlinks=True)):
        for name in sorted(names):
            match = next((s for s in suffixes if name.lower().endswith(s.lower())), None)
            if match is None:
                continue
            rel = osp.relpath(osp.join(dirpath, name), img_root)
            stem = rel[:-len(match)]
            if stem in stems:
                raise ValueError(f'{stems[stem]} and {rel} in {img_root} would share the label {stem}{seg_map_suffix}')
            stems[stem] = rel
            label = osp.join(ann_root, stem + seg_map_suffix)
            (pairs if osp.isfile(label) else missing).append((osp.join(img_root, rel), label))
    if missing:
        raise FileNotFoundError(f'{len(missing)} image(s) in {img_root} have no label map in {ann_root}, e.g. ' +
                                ', '.join(f'{osp.basename(i)} (no {osp.relpath(a, ann_root)})' for i, a in missing[:3]))
    if not pairs:
        raise ValueError(f'the {split!r} split is empty: no images ({", ".join(suffixes)}) under {img_root}')
    return pairs


def load_label(path: str, num_classes: int, reduce_zero_label: bool = False) -> torch.Tensor:
    """(H, W) class-index map as mmseg's LoadAnnotations reads it (Pillow, palette indices kept), checked."""
    label = mmcv.imread(path, flag='unchanged', backend='pillow')
    if label is None:
        raise ValueError(f'cannot decode label map {path}')
    if label.ndim != 2:
        raise ValueError(f'{path}: a label map must be single-channel class indices, got shape {label.shape}')
    if reduce_zero_label:  # as mmseg's LoadAnnotations(reduce_zero_label=True)
        label = label.astype(np.int32)
        label[label == 0] = IGNORE_INDEX
        label = label - 1
        label[label == IGNORE_INDEX - 1] = IGNORE_INDEX
    check_label_values(label, num_classes, IGNORE_INDEX, path)
    return torch.from_numpy(np.ascontiguousarray(label, dtype=np.uint8))  # values <= 255 after the check


def _progress(total: int, enabled: bool):
    from mmengine.utils import ProgressBar
    return ProgressBar(total, file=sys.stderr) if enabled and total > 0 else None


def _finish(bar) -> None:
    if bar is not None:
        print(file=sys.stderr, flush=True)


def extract_split(extractor, pairs: Sequence[Tuple[str, str]], labels: Sequence[torch.Tensor], size: int,
                  batch_size: int, bar) -> torch.Tensor:
    """(N, C, h, w) features of the images, resized to ``size`` squares, checked against their labels' size."""
    feats = []
    for start in range(0, len(pairs), batch_size):
        images = []
        for (img_path, ann_path), label in zip(pairs[start:start + batch_size], labels[start:start + batch_size]):
            img = load_image(img_path)
            if img.shape[:2] != tuple(label.shape):
                raise ValueError(f'{img_path} is {img.shape[0]}x{img.shape[1]} but its label map {ann_path} is '
                                 f'{label.shape[0]}x{label.shape[1]}')
            images.append(resize_square(img, size))
        feats.append(extractor.extract(images))  # (b, C, h, w)
        if bar is not None:
            bar.update(len(images))
    return torch.cat(feats)


def cache_key(args: argparse.Namespace, pairs: Sequence[Tuple[str, str]]) -> str:
    """Hash of everything the features depend on: weights file, model options, image files."""

    def stamp(path: str) -> list:
        st = os.stat(path)
        return [osp.abspath(path), st.st_mtime_ns, st.st_size]

    config = args.config if args.config in (None, 'auto') else stamp(args.config)
    material = dict(
        version=CACHE_VERSION,
        checkpoint=stamp(args.checkpoint),
        config=config,
        stage=args.stage,
        local=args.local,
        local_level=args.local_level,
        branch=args.branch,
        size=args.size,
        images=[stamp(img) for img, _ in pairs])
    if args.num_heads is not None:  # only then, so that caches written before the option keep their keys
        material['num_heads'] = args.num_heads
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def get_features(args, train_pairs, val_pairs, train_labels, val_labels, device):
    """Train and val features, from --cache-dir when it holds this exact set, else extracted (and stored)."""
    cache_file = None
    if args.cache_dir:
        cache_file = osp.join(args.cache_dir, f'dense_probe_features_{cache_key(args, train_pairs + val_pairs)}.pth')
        if osp.isfile(cache_file):
            cached = torch.load(cache_file, map_location='cpu', weights_only=True)
            same_images = (
                cached.get('train_images') == [p for p, _ in train_pairs]
                and cached.get('val_images') == [p for p, _ in val_pairs])
            if cached.get('version') == CACHE_VERSION and same_images:
                print(f'features from the cache {cache_file}', file=sys.stderr)
                return cached['train'], cached['val'], cache_file, True
    extractor = build_feature_extractor(
        args.checkpoint,
        args.config,
        stage=args.stage,
        use_local_neck=args.local,
        local_level=args.local_level,
        branch=args.branch,
        device=device,
        num_heads=args.num_heads)
    print(
        f'extracting features of {len(train_pairs)} train + {len(val_pairs)} val images at {args.size} px',
        file=sys.stderr)
    bar = _progress(len(train_pairs) + len(val_pairs), not args.no_progress)
    train = extract_split(extractor, train_pairs, train_labels, args.size, args.batch_size, bar)
    val = extract_split(extractor, val_pairs, val_labels, args.size, args.batch_size, bar)
    _finish(bar)
    if cache_file is not None:
        mmengine.mkdir_or_exist(args.cache_dir)
        tmp = f'{cache_file}.{os.getpid()}.tmp'
        torch.save(
            dict(
                version=CACHE_VERSION,
                train=train,
                val=val,
                train_images=[p for p, _ in train_pairs],
                val_images=[p for p, _ in val_pairs]), tmp)
        os.replace(tmp, cache_file)  # atomic: a concurrent or interrupted run never sees half a file
        print(f'features cached in {cache_file}', file=sys.stderr)
    return train, val, cache_file, False


def run_linear(args, train_feats, val_feats, train_labels, val_labels, num_classes,
               device) -> Tuple[dict, Callable[[], SegmentationScores]]:
    """Standardise, sweep the lr on a held-out part of train, retrain on all of train; returns the report's
    ``linear`` block and the evaluation of val (a closure, so that it is timed apart)."""
    mean, std = channel_stats(train_feats)  # train statistics only; no labels involved
    train_x = standardise(train_feats, mean, std).to(device)
    val_x = standardise(val_feats, mean, std).to(device)
    side = args.train_label_size
    targets = resize_labels(train_labels, (side, side)).to(device)  # (N, T, T)
    sweep_runs = len(args.lrs) if len(args.lrs) > 1 else 0
    bar = _progress(args.epochs * (sweep_runs + 1), not args.no_progress)
    kwargs = dict(
        epochs=args.epochs,
        batch_size=args.train_batch_size,
        weight_decay=args.weight_decay,
        seed=args.seed,
        on_epoch=(lambda epoch, loss: bar.update()) if bar is not None else None)
    info = dict(lrs=list(args.lrs), epochs=args.epochs, train_label_size=side)
    if sweep_runs:
        fit, held = split_indices(len(train_labels), args.val_fraction, args.seed)
        sweep = lr_sweep(train_x[fit], targets[fit], train_x[held], [train_labels[i] for i in held], num_classes,
                         args.lrs, **kwargs)
        best_lr = sweep.best_lr
        if best_lr in (min(args.lrs), max(args.lrs)):
            print(
                f'warning: the best lr {best_lr:g} is at the edge of --lrs; a wider sweep may find a better one',
                file=sys.stderr)
        info.update(
            num_fit=int(fit.size),
            num_held_out=int(held.size),
            sweep=[
                dict(
                    lr=lr,
                    held_out_mIoU=_num(s.miou),
                    held_out_aAcc=_num(s.aacc),
                    final_loss=p.losses[-1],
                    converged=p.converged) for lr, s, p in zip(sweep.lrs, sweep.scores, sweep.probes)
            ])
    else:
        best_lr = float(args.lrs[0])
        info.update(num_fit=len(train_labels), num_held_out=0, sweep=[])
    probe = train_linear_probe(train_x, targets, num_classes, best_lr, **kwargs)
    _finish(bar)
    info.update(best_lr=best_lr, final_loss=probe.losses[-1], converged=probe.converged, losses=probe.losses)
    if not probe.converged:
        print(
            f'warning: the final classifier (lr {best_lr:g}) was still improving at the end of training; '
            'consider more --epochs',
            file=sys.stderr)
    return info, lambda: evaluate_score_maps(probe.logits(val_x), val_labels, num_classes)


def run_knn(args, train_feats, val_feats, train_labels, val_labels, num_classes,
            device) -> Tuple[dict, Callable[[], SegmentationScores]]:
    """Memory bank of train patches; returns the report's ``knn`` block and the retrieval + evaluation of val."""
    keys, values = build_memory_bank(
        train_feats.to(device), train_labels, num_classes, IGNORE_INDEX, max_size=args.bank_size, seed=args.seed)
    info = dict(k=args.k, temperature=args.temperature, bank_size=int(keys.shape[0]))

    def evaluate():
        bar = _progress(len(val_labels), not args.no_progress)
        maps = []
        for start in range(0, len(val_labels), args.batch_size):
            chunk = val_feats[start:start + args.batch_size].to(device)
            maps.append(knn_score_maps(chunk, keys, values, args.k, args.temperature).cpu())  # (b, K, h, w)
            if bar is not None:
                bar.update(chunk.shape[0])
        _finish(bar)
        return evaluate_score_maps(torch.cat(maps), val_labels, num_classes)

    return info, evaluate


def _num(value: Optional[float]) -> Optional[float]:
    return None if value is None or math.isnan(value) else float(value)


def _pct(value: Optional[float]) -> str:
    return '  n/a' if value is None else f'{100 * value:6.2f}'


def print_summary(report: dict) -> None:
    args = report['args']
    c, h, w = report['feature_shape']
    feat = 'local projection' if args['local'] else f'stage {args["stage"]}'
    print(f'dense probe ({report["mode"]}, {feat}, {args["branch"]}, {args["size"]} px -> {h}x{w}x{c} features; '
          f'{report["num_train"]} train / {report["num_val"]} val images)')
    linear = report.get('linear')
    if linear and linear['sweep']:
        print(f'lr sweep ({linear["num_fit"]} fit / {linear["num_held_out"]} held-out images, '
              f'{linear["epochs"]} epochs each):')
        for run in linear['sweep']:
            best = '  <- best' if run['lr'] == linear['best_lr'] else ''
            print(f'  lr {run["lr"]:<8g} held-out mIoU {_pct(run["held_out_mIoU"])}%  final loss '
                  f'{run["final_loss"]:.4f}{"" if run["converged"] else " (not converged)"}{best}')
    width = max([5] + [len(c['name']) for c in report['per_class']])
    rule = f'+-{"-" * width}-+--------+--------+'
    print(rule)
    print(f'| {"class":<{width}} |  IoU % |  Acc % |')
    print(rule)
    for row in report['per_class']:
        print(f'| {row["name"]:<{width}} | {_pct(row["IoU"])} | {_pct(row["Acc"])} |')
    print(rule)
    print(f'mIoU {_pct(report["mIoU"]).strip()}%  mAcc {_pct(report["mAcc"]).strip()}%  '
          f'aAcc {_pct(report["aAcc"]).strip()}%  ({report["timing"]["total_s"]:.1f} s)')


def main(argv=None) -> dict:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)  # main() may be called in-process: leave the setting as it was


def run(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    class_names = resolve_classes(args)
    num_classes = len(class_names)
    train_pairs = find_pairs(args.data, args.train_split, args.img_suffix, args.seg_map_suffix)
    val_pairs = find_pairs(args.data, args.val_split, args.img_suffix, args.seg_map_suffix)
    train_labels = [load_label(p, num_classes, args.reduce_zero_label) for _, p in train_pairs]
    val_labels = [load_label(p, num_classes, args.reduce_zero_label) for _, p in val_pairs]
    t_labels = time.perf_counter()
    device = resolve_device(args.device)
    train_feats, val_feats, cache_file, cached = get_features(args, train_pairs, val_pairs, train_labels, val_labels,
                                                              device)
    t_features = time.perf_counter()
    probe = run_linear if args.mode == 'linear' else run_knn
    info, evaluate = probe(args, train_feats, val_feats, train_labels, val_labels, num_classes, device)
    t_probe = time.perf_counter()
    with torch.no_grad():
        scores = evaluate()
    t_end = time.perf_counter()
    report = dict(
        mode=args.mode,
        **scores_as_dict(scores, class_names),
        classes=class_names,
        num_train=len(train_pairs),
        num_val=len(val_pairs),
        feature_shape=list(train_feats.shape[1:]),
        **{args.mode: info},
        timing=dict(
            labels_s=t_labels - start,
            features_s=t_features - t_labels,
            features_cached=cached,
            probe_s=t_probe - t_features,
            eval_s=t_end - t_probe,
            total_s=t_end - start,
            threads=torch.get_num_threads()),
        cache_file=cache_file,
        args=vars(args))
    print_summary(report)
    if args.out:
        mmengine.dump(report, args.out, file_format='json', indent=2)
        print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()

# Copyright (c) mmlc contributors. All rights reserved.
"""Correspondence accuracy of dense backbone features (paper §4.6, "More Analysis on Correspondence").

    python tools/analysis/correspondence_accuracy.py CONFIG CHECKPOINT --data DIR [options]

For each image: I_1 = the image (resized to --size) with colour transforms (colour jitter, random
grayscale, Gaussian blur), I_2 = its horizontal flip with independent colour transforms. Each feature
cell of I_1 is matched to the most cosine-similar cell of I_2 and counted correct when that is the
mirrored cell (w - 1 - x, y). ``--mode crop`` instead pairs the whole image with a random resized crop
(+ flip) as in training, and a match is correct when it lies in the cell containing the true point.

CONFIG is any config whose ``model.backbone`` matches the checkpoint, or ``auto`` to infer a plain
ResNet or ViT from the weights (a ViT's head count from --num-heads or the config a Runner checkpoint
stores). CHECKPOINT may be an mmlc or mmpretrain (e.g. BYOL, MoCo v3) Runner checkpoint, a torchvision
ResNet state dict or a bare mmpretrain ViT backbone. A ViT's map is its patch tokens on the patch grid.
Results are deterministic for a given --seed.
"""
import argparse
import os.path as osp
import sys

import mmengine

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install

from mmlc.analysis import (build_feature_extractor, evaluate_pairs, list_images, load_image, prepare_pairs,
                           resolve_device, summarise)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Dense correspondence accuracy (paper §4.6)')
    parser.add_argument('config', help="config describing model.backbone, or 'auto' for a plain ResNet / ViT")
    parser.add_argument(
        'checkpoint', help='mmlc / mmpretrain checkpoint, torchvision ResNet or bare mmpretrain ViT state dict')
    parser.add_argument('--data', required=True, help='image directory (searched recursively) or one image')
    parser.add_argument('--max-images', type=int, default=None, help='use the first N images (sorted)')
    parser.add_argument(
        '--mode',
        choices=['flip', 'crop'],
        default='flip',
        help="'flip': the paper's mirrored-cell test; 'crop': random resized crop + flip")
    parser.add_argument('--size', type=int, default=224, help='side of the square views (default 224)')
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
        help='score the local projection (mmlc checkpoints) instead of the backbone map')
    parser.add_argument(
        '--local-level',
        type=int,
        default=-1,
        help='with --local on a multi-level model: which local neck (default -1, the last)')
    parser.add_argument(
        '--branch', choices=['online', 'target'], default='online', help='online (default) or EMA target network')
    parser.add_argument('--no-colour', action='store_true', help='no colour transforms (geometry only)')
    parser.add_argument(
        '--colour-views',
        choices=['both', 'second'],
        default='both',
        help='colour-transform both views (default) or only the flipped/cropped one (§4.6 read '
        'literally)')
    parser.add_argument(
        '--crop-scale',
        type=float,
        nargs=2,
        default=(0.08, 1.0),
        metavar=('MIN', 'MAX'),
        help='crop area range for --mode crop (default 0.08 1.0)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the view pairs (default 0)')
    parser.add_argument('--batch-size', type=int, default=16, help='pairs per forward pass')
    parser.add_argument('--device', default='auto', help="'auto' (cuda if available), 'cpu', 'cuda:0', ...")
    parser.add_argument('--out', help='write the summary and per-image accuracies to this JSON file')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    extractor = build_feature_extractor(
        args.checkpoint,
        args.config,
        stage=args.stage,
        use_local_neck=args.local,
        local_level=args.local_level,
        branch=args.branch,
        device=resolve_device(args.device),
        num_heads=args.num_heads)
    paths = list_images(args.data, args.max_images)
    print(f'loading {len(paths)} images from {args.data}', file=sys.stderr)
    pairs = prepare_pairs([load_image(p) for p in paths],
                          mode=args.mode,
                          size=args.size,
                          colour=not args.no_colour,
                          seed=args.seed,
                          crop_scale=tuple(args.crop_scale),
                          names=[osp.relpath(p, args.data) if osp.isdir(args.data) else osp.basename(p) for p in paths],
                          colour_views=args.colour_views)
    results = evaluate_pairs(extractor, pairs, batch_size=args.batch_size, progress=not args.no_progress)
    summary = summarise(results)
    feat = f'{results[0].feat_size1[0]}x{results[0].feat_size1[1]}' if results else '?'
    print(f'correspondence accuracy ({args.mode}, {feat} cells, '
          f'{"local projection" if args.local else f"stage {args.stage}"}, {args.branch}): '
          f'{100 * summary["accuracy"]:.2f}% over {summary["num_cells"]} cells of '
          f'{summary["num_images"]} images')
    print(f'same-position rate (matched to the un-mirrored cell at its own position): '
          f'{100 * summary["same_position_rate"]:.2f}%')
    print(f'per image: mean {100 * summary["image_mean"]:.2f}%  std {100 * summary["image_std"]:.2f}%  '
          f'min {100 * summary["image_min"]:.2f}%  median {100 * summary["image_median"]:.2f}%  '
          f'max {100 * summary["image_max"]:.2f}%  ({summary["num_scored_images"]} images scored)')
    report = dict(
        summary=summary,
        args=vars(args),
        per_image=[dict(name=r.name, accuracy=r.accuracy, num_valid=r.num_valid) for r in results])
    if args.out:
        mmengine.dump(report, args.out, file_format='json', indent=2)
        print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()

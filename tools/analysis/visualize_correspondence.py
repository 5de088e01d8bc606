# Copyright (c) mmlc contributors. All rights reserved.
"""Correspondence maps as PNGs (paper Figures 4 and 5).

    python tools/analysis/visualize_correspondence.py CONFIG CHECKPOINT --data DIR_OR_IMAGE --out-dir DIR

For each image, one PNG: the two views side by side with a line from each drawn I_1 cell to its best
match in I_2 (green correct, red wrong), the ground-truth correspondence below, and with
``--heatmap-cell Y X`` (or ``--heatmap-cell centre``) the similarity map of that I_1 cell over I_2.
Views and arguments are those of ``correspondence_accuracy.py`` (same seed, same pairs).
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install

from mmlc.analysis import build_feature_extractor, evaluate_pairs, list_images, load_image, prepare_pairs  # noqa: E402
from mmlc.analysis.visualize import draw_correspondence  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Draw dense correspondence maps of a checkpoint')
    parser.add_argument('config', help="config describing model.backbone, or 'auto' for a plain ResNet / ViT")
    parser.add_argument(
        'checkpoint', help='mmlc / mmpretrain checkpoint, torchvision ResNet or bare mmpretrain ViT state dict')
    parser.add_argument('--data', required=True, help='image directory (searched recursively) or one image')
    parser.add_argument('--out-dir', required=True, help='where to write the PNGs')
    parser.add_argument('--max-images', type=int, default=4, help='draw the first N images (default 4)')
    parser.add_argument('--mode', choices=['flip', 'crop'], default='flip')
    parser.add_argument('--size', type=int, default=224, help='side of the square views (default 224)')
    parser.add_argument('--stage', type=int, default=-1, help='ResNet stage 0-3 or ViT layer, -1 = last (default)')
    parser.add_argument(
        '--num-heads',
        type=int,
        default=None,
        help='attention heads of a ViT read without a config (not in the weights; '
        'default: the config stored in a Runner checkpoint)')
    parser.add_argument('--local', action='store_true', help='use the local projection (mmlc checkpoints)')
    parser.add_argument(
        '--local-level',
        type=int,
        default=-1,
        help='with --local on a multi-level model: which local neck (default -1, the last)')
    parser.add_argument('--branch', choices=['online', 'target'], default='online')
    parser.add_argument('--no-colour', action='store_true', help='no colour transforms')
    parser.add_argument(
        '--colour-views',
        choices=['both', 'second'],
        default='both',
        help='colour-transform both views (default) or only the flipped/cropped one (§4.6 read '
        'literally)')
    parser.add_argument('--crop-scale', type=float, nargs=2, default=(0.08, 1.0), metavar=('MIN', 'MAX'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--heatmap-cell', nargs='+', metavar='Y X', help="add the similarity map of I_1 cell (Y, X), or 'centre'")
    parser.add_argument('--max-lines', type=int, default=64, help='draw about this many cells (default 64)')
    parser.add_argument('--view-px', type=int, default=256, help='pixels per view (default 256)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if args.heatmap_cell is not None and not (args.heatmap_cell == ['centre'] or len(args.heatmap_cell) == 2):
        parser.error("--heatmap-cell takes two integers Y X or the word 'centre'")
    return args


def heatmap_index(spec, feat_size) -> int:
    """Flat index of the requested I_1 cell."""
    h, w = feat_size
    if spec == ['centre']:
        return (h // 2) * w + w // 2
    y, x = int(spec[0]), int(spec[1])
    if not (0 <= y < h and 0 <= x < w):
        raise SystemExit(f'--heatmap-cell {y} {x} is outside the {h}x{w} feature map')
    return y * w + x


def main(argv=None) -> list:
    args = parse_args(argv)
    extractor = build_feature_extractor(
        args.checkpoint,
        args.config,
        stage=args.stage,
        use_local_neck=args.local,
        local_level=args.local_level,
        branch=args.branch,
        device=args.device,
        num_heads=args.num_heads)
    paths = list_images(args.data, args.max_images)
    pairs = prepare_pairs([load_image(p) for p in paths],
                          mode=args.mode,
                          size=args.size,
                          colour=not args.no_colour,
                          seed=args.seed,
                          crop_scale=tuple(args.crop_scale),
                          names=[osp.basename(p) for p in paths],
                          colour_views=args.colour_views)
    results = evaluate_pairs(extractor, pairs, keep_similarity=args.heatmap_cell is not None)
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for i, (pair, result) in enumerate(zip(pairs, results)):
        cell = heatmap_index(args.heatmap_cell, result.feat_size1) if args.heatmap_cell else None
        path = osp.join(args.out_dir, f'{i:03d}_{osp.splitext(pair.name)[0]}_{args.mode}.png')
        draw_correspondence(pair, result, path, heatmap_cell=cell, max_lines=args.max_lines, view_px=args.view_px)
        print(f'{path}: {100 * result.accuracy:.1f}% of {result.num_valid} cells correct')
        written.append(path)
    return written


if __name__ == '__main__':
    main()

# Copyright (c) mmlc contributors. All rights reserved.
"""Few-shot transfer with frozen features (paper Table 7).

    python tools/analysis/few_shot.py CHECKPOINT --data ROOT [--ways 5 --shots 5 --episodes 600]

ROOT has the ImageFolder layout (ROOT/<class>/<image>). Each episode draws --ways classes and --shots
support + --queries query images per class (seeded); the backbone's globally pooled features
(last stage by default), L2-normalised, train a scikit-learn logistic regression on the support set,
and the query accuracy is averaged over episodes with a 95% confidence interval.

CHECKPOINT may be an mmlc or mmpretrain Runner checkpoint or a torchvision ResNet state dict; the
ResNet is inferred from the weights unless --config is given.
"""

import argparse
import os.path as osp
import sys

import mmengine
import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install

from mmlc.analysis import (build_feature_extractor, episode_accuracy, l2_normalise, load_image,
                           mean_confidence_interval, resize_centre_crop, resolve_device, sample_episodes)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='N-way K-shot transfer with frozen pooled features')
    parser.add_argument(
        'checkpoint', help='mmlc / mmpretrain checkpoint, torchvision ResNet or bare mmpretrain ViT state dict')
    parser.add_argument('--data', required=True, help='ImageFolder root: ROOT/<class>/<image>')
    parser.add_argument('--config', default=None, help='config describing model.backbone (default: infer)')
    parser.add_argument('--ways', type=int, default=5, help='classes per episode (default 5)')
    parser.add_argument('--shots', type=int, default=5, help='support images per class (default 5)')
    parser.add_argument('--queries', type=int, default=15, help='query images per class (default 15)')
    parser.add_argument('--episodes', type=int, default=600, help='number of episodes (default 600)')
    parser.add_argument('--seed', type=int, default=0, help='episode seed (default 0)')
    parser.add_argument(
        '--size',
        type=int,
        default=224,
        help='centre-crop side after resizing the shorter side to size*256/224 (default 224)')
    parser.add_argument('--stage', type=int, default=-1, help='ResNet stage or ViT layer to pool, -1 = last (default)')
    parser.add_argument(
        '--num-heads',
        type=int,
        default=None,
        help='attention heads of a ViT read without a config (not in the weights; '
        'default: the config stored in a Runner checkpoint)')
    parser.add_argument('--branch', choices=['online', 'target'], default='online')
    parser.add_argument('--C', type=float, default=1.0, help='inverse L2 regularisation (default 1.0)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--device', default='auto', help="'auto' (cuda if available), 'cpu', 'cuda:0', ...")
    parser.add_argument('--out', help='write per-episode accuracies and the summary to this JSON file')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser.parse_args(argv)


def image_folder(root: str):
    """(paths, labels, classes) of an ImageFolder-layout directory, via mmpretrain's CustomDataset."""
    from mmpretrain.datasets import CustomDataset
    dataset = CustomDataset(data_root=root, pipeline=[], with_label=True)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    labels = np.array([int(d['gt_label']) for d in infos])
    return [d['img_path'] for d in infos], labels, dataset.metainfo['classes']


def pooled_features(extractor, paths, size: int, batch_size: int, progress: bool) -> np.ndarray:
    """(N, C) globally average-pooled features of the images at ``paths``."""
    from mmengine.utils import ProgressBar
    bar = ProgressBar(len(paths), file=sys.stderr) if progress else None
    feats = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        maps = extractor.extract([resize_centre_crop(load_image(p), size) for p in chunk])  # (b, C, h, w)
        feats.append(maps.mean(dim=(2, 3)).numpy())  # (b, C)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        print(file=sys.stderr, flush=True)
    return np.concatenate(feats)


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = resolve_device(args.device)
    paths, labels, classes = image_folder(args.data)
    episodes = sample_episodes(labels, args.ways, args.shots, args.queries, args.episodes, args.seed)
    # Only the images some episode uses are embedded, each once.
    used = np.unique(np.concatenate([np.concatenate([e.support, e.query]) for e in episodes]))
    print(
        f'{len(classes)} classes, {len(paths)} images; {len(episodes)} episodes use {used.size} images',
        file=sys.stderr)
    extractor = build_feature_extractor(
        args.checkpoint, args.config, stage=args.stage, branch=args.branch, device=device, num_heads=args.num_heads)
    used_feats = l2_normalise(
        pooled_features(extractor, [paths[i] for i in used], args.size, args.batch_size, not args.no_progress))
    features = np.zeros((len(paths), used_feats.shape[1]))
    features[used] = used_feats

    from mmengine.utils import ProgressBar
    bar = None if args.no_progress else ProgressBar(len(episodes), file=sys.stderr)
    accs = []
    for episode in episodes:
        accs.append(episode_accuracy(features, episode, C=args.C))
        if bar is not None:
            bar.update()
    if bar is not None:
        print(file=sys.stderr, flush=True)
    mean, half = mean_confidence_interval(accs)
    print(f'{args.ways}-way {args.shots}-shot ({args.queries} queries/class, {len(episodes)} episodes, '
          f'seed {args.seed}): top-1 {100 * mean:.2f}% +- {100 * half:.2f}% (95% CI)')
    report = dict(accuracy=mean, ci95=half, episodes=accs, classes=list(classes), args=vars(args))
    if args.out:
        mmengine.dump(report, args.out, file_format='json', indent=2)
        print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()

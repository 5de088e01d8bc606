# Copyright (c) mmlc contributors. All rights reserved.
"""Data-pipeline throughput: PairedCorrespondenceTransform vs mmpretrain's BYOL two-view pipeline.

    python benchmarks/bench_pipeline.py                 # 224 px views, scikit-image's bundled photos
    python benchmarks/bench_pipeline.py --size 160 --rounds 20
    python benchmarks/bench_pipeline.py --smoke         # tiny (used by the tests)

Both pipelines run in this one process (a single data worker) on the same already-decoded images, from
the transform after loading up to and including ``PackInputs``; rounds alternate between them.
"""
import argparse
import copy
import os.path as osp
import sys
import time

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import header, table  # noqa: E402


def byol_pipeline(size: int):
    """mmpretrain's BYOL views (configs/_base_/datasets/imagenet_bs32_byol.py) at ``size``."""
    from mmlc.datasets import BYOL_VIEW1_COLOUR, BYOL_VIEW2_COLOUR
    crop = [dict(type='RandomResizedCrop', scale=size, interpolation='bicubic', backend='pillow'),
            dict(type='RandomFlip', prob=0.5)]
    return [
        dict(type='MultiView', num_views=[1, 1],
             transforms=[crop + copy.deepcopy(BYOL_VIEW1_COLOUR), crop + copy.deepcopy(BYOL_VIEW2_COLOUR)]),
        dict(type='PackInputs'),
    ]


def lc_pipeline(size: int):
    return [
        dict(type='PairedCorrespondenceTransform', size=size),
        dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
    ]


def load_images(limit: int):
    import mmcv

    from mmlc.datasets import BUNDLED_PHOTOS, as_three_channel_uint8, bundled_photo_path
    return [as_three_channel_uint8(mmcv.imread(bundled_photo_path(n))) for n in list(BUNDLED_PHOTOS)[:limit]]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--rounds', type=int, default=10, help='passes over the images per pipeline')
    p.add_argument('--images', type=int, default=10)
    p.add_argument('--device', default='cpu', help='recorded only: the pipeline runs on the CPU')
    p.add_argument('--smoke', action='store_true')
    args = p.parse_args(argv)
    if args.smoke:
        args.size, args.rounds, args.images = 32, 1, 2
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    import torch
    torch.set_num_threads(1)  # a data worker's view of the machine
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope

    import mmlc  # noqa: F401
    init_default_scope('mmpretrain')
    images = load_images(args.images)
    pipes = {'BYOL (MultiView)': Compose(byol_pipeline(args.size)),
             'BYOL+LC (PairedCorrespondenceTransform)': Compose(lc_pipeline(args.size))}
    np.random.seed(0)
    elapsed = {name: 0.0 for name in pipes}
    for _ in range(args.rounds):
        for name, pipe in pipes.items():
            start = time.perf_counter()
            for img in images:
                pipe(dict(img=img.copy(), img_shape=img.shape[:2], ori_shape=img.shape[:2]))
            elapsed[name] += time.perf_counter() - start
    count = args.rounds * len(images)
    rate = {name: count / t for name, t in elapsed.items()}
    names = list(pipes)
    out = '\n'.join([
        header(args), f'{len(images)} decoded photos, {args.size} px views, {args.rounds} alternating rounds, '
        '1 thread', '',
        table([[n, f'{rate[n]:.1f}'] for n in names], ['pipeline', 'images/s']), '',
        f'ratio LC/BYOL throughput: {rate[names[1]] / rate[names[0]]:.3f}'
    ])
    print(out)
    return out


if __name__ == '__main__':
    main()

# Copyright (c) mmlc contributors. All rights reserved.
"""Data-pipeline throughput: the paired LC pipeline against mmpretrain's BYOL two-view pipeline, from image files.

    python benchmarks/bench_pipeline.py                      # bundled photos as ImageNet-sized JPEGs, 224 px views
    python benchmarks/bench_pipeline.py --data /path/to/jpegs --workers 8 --batch-size 64
    python benchmarks/bench_pipeline.py --smoke              # tiny (used by the tests)

Every pipeline starts at ``LoadImageFromFile`` (JPEG decoding included) and ends with ``PackInputs``.

1. One process, one thread (a data worker's view): the pipelines run on the same files in alternating rounds, and
   each row's throughput is divided by that of mmpretrain's BYOL pipeline as shipped (``ColorJitter`` with Pillow).
   The "fast colour ops" rows use mmlc's ``FastColorJitter`` (same random draws, same pixels as mmpretrain's) and
   ``FastGaussianBlur`` (same draws, pixels within 2 levels), LC's default: BYOL with them too shows how much of
   the gain is the ops rather than LC's pipeline. The "colour in preprocessor" rows are what a worker still does when
   ``ColourAugDataPreprocessor`` runs the colour transforms on the model's device.
2. A ``torch.utils.data.DataLoader`` with ``--workers`` processes and ``--batch-size`` over the same files, for
   mmpretrain's BYOL pipeline, LC's default one and both with the colour left to the preprocessor: images/s after
   one warm-up batch.

Without ``--data`` the photos bundled with scikit-image, scikit-learn and matplotlib are written as JPEGs (quality 90)
with their shorter side at 375 px, about ImageNet's typical 500 x 375.
"""

import argparse
import copy
import glob
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import header, table

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.JPEG', '.png')


def byol_views(size: int, colour: bool = True, fast_colour: bool = False) -> dict:
    """mmpretrain's BYOL views (configs/_base_/datasets/imagenet_bs32_byol.py) at ``size``."""
    from mmlc.datasets import BYOL_VIEW1_COLOUR, BYOL_VIEW2_COLOUR
    from mmlc.datasets.transforms import with_fast_colour
    crop = [
        dict(type='RandomResizedCrop', scale=size, interpolation='bicubic', backend='pillow'),
        dict(type='RandomFlip', prob=0.5)
    ]
    views = []
    for view in (BYOL_VIEW1_COLOUR, BYOL_VIEW2_COLOUR):
        view = copy.deepcopy(view) if colour else []
        views.append(crop + (with_fast_colour(view) if fast_colour else view))
    return dict(type='MultiView', num_views=[1, 1], transforms=views)


def pipelines(size: int) -> Dict[str, List[dict]]:
    """Name -> pipeline config; the first is the baseline of every ratio."""
    load = [dict(type='LoadImageFromFile')]
    pack = dict(type='PackInputs')
    pack_lc = dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape'])

    def lc(**kwargs):
        return load + [dict(type='PairedCorrespondenceTransform', size=size, **kwargs), pack_lc]

    return {
        'BYOL (mmpretrain, ColorJitter)': load + [byol_views(size), pack],
        'BYOL, fast colour ops': load + [byol_views(size, fast_colour=True), pack],
        'BYOL+LC (default: fast colour ops)': lc(),
        'BYOL+LC, mmpretrain colour ops': lc(fast_colour=False),
        'BYOL, colour in preprocessor': load + [byol_views(size, colour=False), pack],
        'BYOL+LC, colour in preprocessor': lc(c_pipeline=[], sc_pipeline=[]),
    }


def write_bundled_jpegs(folder: str, limit: int, short_side: int = 375) -> List[str]:
    """The bundled photos as JPEG files (quality 90) with their shorter side at ``short_side``."""
    import mmcv

    from mmlc.datasets import BUNDLED_PHOTOS, as_three_channel_uint8, bundled_photo_path
    paths = []
    for name in list(BUNDLED_PHOTOS)[:limit]:
        img = as_three_channel_uint8(mmcv.imread(bundled_photo_path(name)))
        h, w = img.shape[:2]
        scale = short_side / min(h, w)
        img = mmcv.imresize(
            img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation='bicubic', backend='pillow')
        path = osp.join(folder, f'{name}.jpg')
        mmcv.imwrite(img, path, params=[1, 90])  # cv2.IMWRITE_JPEG_QUALITY
        paths.append(path)
    return paths


def find_images(folder: str, limit: int) -> List[str]:
    paths = sorted(p for p in glob.glob(osp.join(folder, '**', '*'), recursive=True) if p.endswith(IMAGE_SUFFIXES))
    if not paths:
        raise SystemExit(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {folder}')
    return paths[:limit]


def per_worker_rates(pipes: Dict[str, object], paths: Sequence[str], rounds: int) -> Dict[str, float]:
    """Images/s of each pipeline in this process, rounds alternating between pipelines."""
    elapsed = {name: 0.0 for name in pipes}
    for _ in range(rounds):
        for name, pipe in pipes.items():
            start = time.perf_counter()
            for path in paths:
                if pipe(dict(img_path=path)) is None:
                    raise RuntimeError(f'{name} dropped {path}')
            elapsed[name] += time.perf_counter() - start
    return {name: rounds * len(paths) / t for name, t in elapsed.items()}


class _Files:
    """A map-style dataset: ``paths`` (cycled to ``length``) through one pipeline."""

    def __init__(self, pipe, paths: Sequence[str], length: int) -> None:
        self.pipe, self.paths, self.length = pipe, list(paths), length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.pipe(dict(img_path=self.paths[index % len(self.paths)]))


def loader_rate(pipe, paths: Sequence[str], workers: int, batch_size: int, batches: int) -> float:
    """Images/s through a DataLoader after one warm-up batch (worker start-up excluded)."""
    import torch
    from mmengine.dataset import pseudo_collate
    dataset = _Files(pipe, paths, batch_size * (batches + 1))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=pseudo_collate, shuffle=False)
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    count = sum(len(batch['data_samples']) for batch in iterator)
    return count / (time.perf_counter() - start)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', help='folder of images (searched recursively); default: the bundled photos as JPEGs')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--rounds', type=int, default=5, help='passes over the images per pipeline (part 1)')
    p.add_argument('--images', type=int, default=20, help='at most this many files')
    p.add_argument('--workers', type=int, default=2, help='DataLoader workers (part 2; 0 skips part 2)')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--batches', type=int, default=6, help='timed DataLoader batches per pipeline')
    p.add_argument('--device', default='cpu', help='recorded only: the pipelines run on the CPU')
    p.add_argument('--smoke', action='store_true')
    args = p.parse_args(argv)
    if args.smoke:
        args.size, args.rounds, args.images, args.workers, args.batch_size, args.batches = 32, 1, 2, 1, 2, 1
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    import torch
    torch.set_num_threads(1)  # a data worker's view of the machine
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope

    import mmlc  # noqa: F401
    init_default_scope('mmpretrain')
    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            paths, source = find_images(args.data, args.images), args.data
        else:
            paths = write_bundled_jpegs(tmp, args.images)
            source = 'bundled photos as JPEG q90, shorter side 375 px'
        pipes = {name: Compose(cfg) for name, cfg in pipelines(args.size).items()}
        np.random.seed(0)
        rate = per_worker_rates(pipes, paths, args.rounds)
        names = list(pipes)
        base = rate[names[0]]
        lines = [
            header(args),
            f'{len(paths)} files ({source}), {args.size} px views, decoding included',
            '',
            f'Per worker (1 process, 1 thread, {args.rounds} alternating rounds):',
            table([[n, f'{rate[n]:.1f}', f'{rate[n] / base:.2f}'] for n in names],
                  ['pipeline', 'images/s', 'x BYOL as shipped']),
            '',
            f'ratio LC/BYOL throughput: {rate[names[2]] / base:.3f} (LC default vs mmpretrain BYOL as shipped); '
            f'{rate[names[2]] / rate[names[1]]:.3f} against BYOL with the fast colour ops too',
        ]
        if args.workers > 0:
            loader = {
                n: loader_rate(pipes[n], paths, args.workers, args.batch_size, args.batches)
                for n in (names[0], names[2], names[4], names[5])
            }
            lines += [
                '', f'DataLoader ({args.workers} workers, batch {args.batch_size}, {args.batches} timed batches '
                f'after a warm-up one; {os.cpu_count()} cores):',
                table([[n, f'{r:.1f}', f'{r / loader[names[0]]:.2f}'] for n, r in loader.items()],
                      ['pipeline', 'images/s', 'ratio'])
            ]
    out = '\n'.join(lines)
    print(out)
    return out


if __name__ == '__main__':
    main()

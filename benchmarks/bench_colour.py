# Copyright (c) mmlc contributors. All rights reserved.
"""Colour augmentation on the data workers vs in the data preprocessor (ColourAugDataPreprocessor).

    python benchmarks/bench_colour.py                        # 224 px, batched ops on the CPU with 1 thread
    python benchmarks/bench_colour.py --device cuda          # batched ops on a GPU
    python benchmarks/bench_colour.py --smoke                # tiny (used by the tests)

Part 1, per worker (this process, 1 thread, JPEG decoding included): samples/s of ``LoadImageOrSkip ->
PairedCorrespondenceTransform -> PackInputs`` with its colour pipelines (``fast_colour=False``: mmpretrain's
transforms; ``True``, the default: ``with_fast_colour``'s) and without them (colour moved to the preprocessor).
Part 2, per sample (both views): the CPU colour transforms alone against the batched operations on ``--device``,
same presets. Both parts draw random parameters, as training does; settings alternate round by round.
"""

import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Dict, Sequence

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import header, table, time_once

VIEWS = ('byol-view1', 'byol-view2')  # PairedCorrespondenceTransform's defaults: BYOL's two views
WORKER = {
    'colour on the worker, fast_colour=False': dict(c_pipeline=VIEWS[0], sc_pipeline=VIEWS[1], fast_colour=False),
    'colour on the worker, fast_colour=True': dict(c_pipeline=VIEWS[0], sc_pipeline=VIEWS[1], fast_colour=True),
    'colour in the preprocessor (c/sc_pipeline=[])': dict(c_pipeline=[], sc_pipeline=[]),
}


def worker_rates(paths: Sequence[str], size: int, rounds: int) -> Dict[str, float]:
    """Samples/s of each :data:`WORKER` setting of the paired pipeline in this process (rounds alternate)."""
    from mmcv.transforms import Compose
    pipes = {
        name:
        Compose([
            dict(type='LoadImageOrSkip'),
            dict(type='PairedCorrespondenceTransform', size=size, **colour),
            dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape'])
        ])
        for name, colour in WORKER.items()
    }
    elapsed = {name: 0.0 for name in pipes}
    for _ in range(rounds):
        for name, pipe in pipes.items():
            start = time.perf_counter()
            for path in paths:
                pipe(dict(img_path=path))
            elapsed[name] += time.perf_counter() - start
    return {name: rounds * len(paths) / t for name, t in elapsed.items()}


def colour_costs(images: Sequence[np.ndarray], batch: int, repeats: int, device: str) -> Dict[str, float]:
    """Milliseconds per sample (both views) of the CPU colour transforms and of the batched operations.

    Args:
        images (Sequence[np.ndarray]): (S, S, 3) uint8 BGR views, cycled to ``batch`` samples.
        batch (int): Samples per timed pass (one batch for the batched operations).
        repeats (int): Timed passes per setting after one untimed one, alternating; the median counts.
        device (str): Device of the batched operations.

    Returns:
        dict: ``cpu_ms`` (mmpretrain's transforms), ``cpu_fast_ms`` (``with_fast_colour``'s) and ``batched_ms``.
    """
    import torch

    from mmlc.datasets.transforms import COLOUR_PRESETS, build_colour_pipeline, with_fast_colour
    from mmlc.models.data_preprocessors import BatchedColourPipeline
    samples = [images[i % len(images)] for i in range(batch)]

    def cpu_run(fast):
        pipes = [
            build_colour_pipeline(with_fast_colour(COLOUR_PRESETS[v]) if fast else COLOUR_PRESETS[v]) for v in VIEWS
        ]

        def run():
            for img in samples:
                for pipe in pipes:
                    pipe(dict(img=img.copy(), img_shape=img.shape[:2]))

        return run

    views = [BatchedColourPipeline(v) for v in VIEWS]
    x = torch.from_numpy(np.stack(samples)).permute(0, 3, 1, 2).contiguous().to(device)  # (B, 3, S, S) uint8
    generator = torch.Generator().manual_seed(0)

    def batched_run():
        for view in views:
            view(x.float(), generator)

    runs = {
        'cpu_ms': (cpu_run(False), 'cpu'),
        'cpu_fast_ms': (cpu_run(True), 'cpu'),
        'batched_ms': (batched_run, device)
    }
    times = {key: [] for key in runs}
    for r in range(repeats + 1):
        for key, (fn, dev) in runs.items():
            t = time_once(fn, dev)
            if r:  # the first pass warms up
                times[key].append(t)
    return {key: 1e3 * statistics.median(t) / batch for key, t in times.items()}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--images', type=int, default=10, help='bundled colour photos used')
    p.add_argument('--rounds', type=int, default=5, help='passes over the photos per setting (part 1)')
    p.add_argument('--batch', type=int, default=64, help='samples per timed pass (part 2)')
    p.add_argument('--repeats', type=int, default=3, help='timed passes per setting, median (part 2)')
    p.add_argument('--device', default='cpu', help='device of the batched operations')
    p.add_argument('--threads', type=int, default=1, help='torch threads of the batched operations on the CPU')
    p.add_argument('--smoke', action='store_true')
    args = p.parse_args(argv)
    if args.smoke:
        args.size, args.images, args.rounds, args.batch, args.repeats = 32, 2, 1, 4, 1
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    import mmcv
    import torch
    from mmengine.registry import init_default_scope

    import mmlc  # noqa: F401
    from mmlc.datasets import BUNDLED_PHOTOS, as_three_channel_uint8, bundled_photo_path
    init_default_scope('mmpretrain')
    names = [n for n in BUNDLED_PHOTOS if mmcv.imread(bundled_photo_path(n), 'unchanged').ndim == 3][:args.images]
    photos = [as_three_channel_uint8(mmcv.imread(bundled_photo_path(n))) for n in names]
    np.random.seed(0)
    torch.set_num_threads(1)  # part 1: a data worker's view of the machine
    with tempfile.TemporaryDirectory() as tmp:
        paths = [osp.join(tmp, f'{n}.jpg') for n in names]
        for img, path in zip(photos, paths):  # JPEG files, so that part 1 decodes as a worker does
            mmcv.imwrite(img, path, params=[1, 90])  # cv2.IMWRITE_JPEG_QUALITY
        rates = worker_rates(paths, args.size, args.rounds)
    views = [mmcv.imresize(img, (args.size, args.size), interpolation='bicubic', backend='pillow') for img in photos]
    torch.set_num_threads(args.threads)  # the CPU transforms stay single-threaded (Pillow, numpy)
    cost = colour_costs(views, args.batch, args.repeats, args.device)
    names = list(rates)
    base = rates[names[1]]
    lines = [
        header(args),
        f'{len(paths)} bundled colour photos as JPEG q90, {args.size} px views, colour presets {VIEWS}',
        '',
        f'Per worker (1 process, 1 thread, decoding included, {args.rounds} alternating rounds):',
        table([[n, f'{r:.1f}', f'{r / base:.2f}'] for n, r in rates.items()],
              ['data pipeline', 'samples/s', 'x fast_colour=True (default)']),
        '',
        f'Colour per sample, both views (batch {args.batch}; batched ops on {args.device}, {args.threads} '
        f'thread(s); median of {args.repeats} alternating passes):',
        table([["CPU transforms, mmpretrain's", f'{cost["cpu_ms"]:.2f}'],
               ['CPU transforms, with_fast_colour', f'{cost["cpu_fast_ms"]:.2f}'],
               [f'batched ops on {args.device}', f'{cost["batched_ms"]:.2f}']], ['colour', 'ms per sample']),
        '',
        f'ratio batched / CPU transforms: {cost["batched_ms"] / cost["cpu_ms"]:.2f} (mmpretrain\'s), '
        f'{cost["batched_ms"] / cost["cpu_fast_ms"]:.2f} (with_fast_colour); per worker without colour: '
        f'{rates[names[2]] / base:.2f}x the default\'s samples/s',
    ]
    out = '\n'.join(lines)
    print(out)
    return out


if __name__ == '__main__':
    main()

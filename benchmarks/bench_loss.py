# Copyright (c) mmlc contributors. All rights reserved.
"""LC-loss forward+backward: the naive (full similarity matrix) vs the memory-lean path.

    python benchmarks/bench_loss.py                       # CPU, map sizes 7 14 28 56, batch 8 and 32
    python benchmarks/bench_loss.py --device cuda --batch-sizes 64 256
    python benchmarks/bench_loss.py --smoke               # tiny, one repeat (used by the tests)
    python benchmarks/bench_loss.py --dtype bfloat16      # features as under AMP (the lean path stays in bf16)

Prints time and peak extra memory of each path, their ratios (lean / naive), and checks that both give
the same loss and gradients (with fp16 / bf16 features the naive path computes in fp32 and the lean path in
the features' dtype, so they then agree only to that dtype's rounding).
"""

import argparse
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import ensure_malloc_returns_memory, fmt_bytes, header, measure, table

from mmlc.models.losses.local_losses import DEFAULT_CHUNK, local_contrastive_loss
from mmlc.models.utils import correspondence_grid


def make_case(batch: int, size: int, channels: int, device: str, seed: int = 0, dtype: torch.dtype = torch.float32):
    """Random features in ``dtype`` and the grid of random crops (scale 0.08-1), as in pretraining."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(batch, channels, size, size, generator=g)
    online = torch.randn(batch, channels, size, size, generator=g)
    side = torch.sqrt(0.08 + 0.92 * torch.rand(batch, generator=g)) * 224
    x0 = torch.rand(batch, generator=g) * (224 - side)
    y0 = torch.rand(batch, generator=g) * (224 - side)
    boxes = torch.stack([x0, y0, x0 + side, y0 + side], dim=1)
    flips = torch.rand(batch, generator=g) < 0.5
    grid = correspondence_grid(boxes, flips, torch.full((batch, 2), 224), (size, size))
    return target.to(device, dtype), online.to(device, dtype), grid.to(device)


def run_once(target, online, grid, impl, chunk_size=DEFAULT_CHUNK):
    online = online.detach().requires_grad_()
    loss = local_contrastive_loss(target, online, grid, impl=impl, chunk_size=chunk_size)
    loss.backward()
    return loss.detach(), online.grad


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', type=int, nargs='+', default=[7, 14, 28, 56], help='map side (Ht = Ho)')
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[8, 32])
    p.add_argument('--channels', type=int, default=256)
    p.add_argument('--chunk-size', type=int, default=DEFAULT_CHUNK, help="the lean path's buffer rows per image")
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--dtype',
        default='float32',
        choices=['float32', 'float16', 'bfloat16'],
        help='dtype of the features (fp16 / bf16: as they reach the loss under AMP)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument(
        '--max-naive-gib',
        type=float,
        default=8.0,
        help='skip the naive path where its similarity matrices alone would exceed this')
    p.add_argument('--smoke', action='store_true', help='tiny sizes, one repeat')
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.batch_sizes, args.channels, args.warmup, args.repeats = [4, 7], [2], 16, 0, 1
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    if argv is None:
        ensure_malloc_returns_memory()
    rows = []
    for batch in args.batch_sizes:
        for size in args.sizes:
            target, online, grid = make_case(batch, size, args.channels, args.device, dtype=getattr(torch, args.dtype))
            naive_gib = 3 * batch * size**4 * 4 / 2**30  # logits, log-softmax, gradient
            lean = measure(lambda: run_once(target, online, grid, 'lean', args.chunk_size), args.device, args.warmup,
                           args.repeats)
            if naive_gib > args.max_naive_gib:
                rows.append([
                    batch, f'{size}x{size}', 'skipped', 'skipped', f'{lean[0] * 1e3:.1f} ms',
                    fmt_bytes(lean[1]), '-', '-', '-'
                ])
                continue
            naive = measure(lambda: run_once(target, online, grid, 'naive'), args.device, args.warmup, args.repeats)
            l_n, g_n = run_once(target, online, grid, 'naive')
            l_l, g_l = run_once(target, online, grid, 'lean', args.chunk_size)
            diff = max((l_n - l_l).abs().item(), (g_n.float() - g_l.float()).abs().max().item())
            mem_ratio = f'{lean[1] / naive[1]:.3f}' if lean[1] and naive[1] else 'n/a'
            rows.append([
                batch, f'{size}x{size}', f'{naive[0] * 1e3:.1f} ms',
                fmt_bytes(naive[1]), f'{lean[0] * 1e3:.1f} ms',
                fmt_bytes(lean[1]), f'{lean[0] / naive[0]:.2f}', mem_ratio, f'{diff:.1e}'
            ])
    out = '\n'.join([
        header(args), f'channels {args.channels}, dtype {args.dtype}, lean chunk_size {args.chunk_size}, '
        f'median of {args.repeats} after {args.warmup} warm-up', '',
        table(rows, [
            'batch', 'map', 'naive time', 'naive peak', 'lean time', 'lean peak', 'time lean/naive', 'mem lean/naive',
            'max |diff|'
        ])
    ])
    print(out)
    return out


if __name__ == '__main__':
    main()

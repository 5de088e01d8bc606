# Copyright (c) mmlc contributors. All rights reserved.
"""Training-step cost of BYOLLocalContrast against mmpretrain's BYOL on the same backbone and batch, or of any
two configs' models on the same batch of views.

    python benchmarks/bench_step.py                              # ResNet-18, 128 px, batch 16, CPU
    python benchmarks/bench_step.py --depth 50 --size 224 --batch 8
    python benchmarks/bench_step.py --device cuda --depth 50 --size 224 --batch 64
    python benchmarks/bench_step.py --smoke                      # tiny, one step (used by the tests)
    python benchmarks/bench_step.py --configs BASE.py PLUGIN.py [--batch 8] [--size 96] [--views-from 0|1]

Both models run the Runner's ``train_step`` (preprocessing, forward, backward, optimiser step) on identical
inputs, interleaved step by step so that machine noise hits both alike. Prints the median step time, the
peak extra memory of one step and the ratios of the second model to the first; without ``--configs``, also a
breakdown of what the local branch adds.

With ``--configs A B`` each model, its data preprocessor and its optimiser wrapper come from its config (SyncBN
reverted to BN as the Runner does in one process; on CPU an ``AmpOptimWrapper`` becomes a plain ``OptimWrapper``;
custom hooks do not run). The batch is made once, by the training pipeline of one of them (``--views-from``,
default the second: a plug-in's pipeline carries the crop records its local loss needs) applied to the bundled
photos, optionally at ``--size`` px, and both models train on that same batch: a plug-in cannot look cheaper by
seeing fewer or smaller views than its base.
"""

import argparse
import copy
import os.path as osp
import statistics
import sys

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import ensure_malloc_returns_memory, fmt_bytes, header, median_time, peak_memory, table, time_once


def model_cfgs(depth: int, lc_impl: str):
    """BYOL as mmpretrain configures it, and the same model plus the paper's local branch."""
    feat = 512 if depth in (18, 34) else 2048
    norm1d = dict(type='BN1d')
    byol = dict(
        type='BYOL',
        base_momentum=0.004,
        backbone=dict(type='ResNet', depth=depth, norm_cfg=dict(type='BN'), zero_init_residual=False),
        neck=dict(
            type='NonLinearNeck',
            in_channels=feat,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=True,
            norm_cfg=norm1d),
        head=dict(
            type='LatentPredictHead',
            loss=dict(type='CosineSimilarityLoss'),
            predictor=dict(
                type='NonLinearNeck',
                in_channels=256,
                hid_channels=4096,
                out_channels=256,
                num_layers=2,
                with_bias=True,
                with_last_bn=False,
                with_avg_pool=False,
                norm_cfg=norm1d)),
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True))
    lc = copy.deepcopy(byol)
    lc.update(
        type='BYOLLocalContrast',
        alpha=0.1,
        local_neck=dict(
            type='LocalProjectionNeck', in_channels=feat, hid_channels=feat, out_channels=256,
            norm_cfg=dict(type='BN')),
        local_head=dict(type='LCLossHead', tau=0.2, impl=lc_impl))
    return byol, lc


def optim_cfg():
    return dict(
        type='OptimWrapper',
        optimizer=dict(type='LARS', lr=0.3, momentum=0.9, weight_decay=1e-6),
        paramwise_cfg=dict(
            custom_keys={
                'bn': dict(decay_mult=0, lars_exclude=True),
                'bias': dict(decay_mult=0, lars_exclude=True),
                'downsample.1': dict(decay_mult=0, lars_exclude=True)
            }))


def make_batch(batch: int, size: int):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    views = [torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8) for _ in range(2 * batch)]
    samples = []
    for k in range(batch):
        s = DataSample()
        s.set_field(torch.tensor([20., 30., 20. + 0.6 * 300, 30. + 0.6 * 200]), 'sc_box')
        s.set_field(bool(k % 2), 'sc_flip')
        s.set_field((200, 300), 'src_shape')
        samples.append(s)
    # As default_collate delivers them: one (B, 3, H, W) uint8 tensor per view.
    return dict(inputs=[torch.stack(views[:batch]), torch.stack(views[batch:])], data_samples=samples)


def config_models(paths, device: str):
    """Each config's model (with its data preprocessor) and optimiser wrapper, as the Runner would build them in one
    process; returns (names, models, wrappers, notes)."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    names, models, wrappers, notes = [], {}, {}, []
    for i, path in enumerate(paths):
        cfg = Config.fromfile(path)
        name = osp.splitext(osp.basename(path))[0]
        name = name if name not in names else f'{name} ({i})'
        model_cfg = copy.deepcopy(cfg.model)
        if cfg.get('data_preprocessor') is not None:  # mmpretrain configs keep it at the top; the Runner copies it
            model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
        model = revert_sync_batchnorm(MODELS.build(model_cfg)).to(device).train()
        optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        if not device.startswith('cuda') and optim_cfg.get('type') == 'AmpOptimWrapper':
            optim_cfg.type = 'OptimWrapper'
            optim_cfg.pop('loss_scale', None)
            notes.append(f'{name}: AmpOptimWrapper -> OptimWrapper (fp32) on {device}')
        names.append(name)
        models[name] = model
        wrappers[name] = build_optim_wrapper(model, optim_cfg)
    return names, models, wrappers, notes


def config_batch(path: str, batch: int, size=None, seed: int = 0):
    """One collated batch made by a config's training pipeline from the bundled photos (cycled when ``batch`` is
    larger than their number), with every view-making transform set to ``size`` px when given."""
    import random

    import numpy as np
    from mmengine.config import Config
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    from mmlc.analysis import set_view_size
    pipeline = Config.fromfile(path).train_dataloader.dataset.pipeline
    if size is not None:
        pipeline = set_view_size(pipeline, size)
    dataset = DATASETS.build(dict(type='BundledPhotos', pipeline=pipeline))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return default_collate([dataset[i % len(dataset)] for i in range(batch)])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        '--configs',
        nargs=2,
        metavar=('A', 'B'),
        help='compare the models of two configs (B against A) instead of BYOL and BYOL+LC')
    p.add_argument(
        '--views-from',
        type=int,
        default=1,
        choices=[0, 1],
        help='with --configs: whose training pipeline makes the shared batch (0: A, 1: B)')
    p.add_argument('--depth', type=int, default=18, choices=[18, 34, 50, 101])
    p.add_argument('--size', type=int, help='view side; default 128, with --configs the pipeline\'s own')
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--steps', type=int, default=20, help='timed steps per model (median reported)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--lc-impl', default='auto', choices=['auto', 'naive', 'lean'])
    p.add_argument('--device', default='cpu')
    p.add_argument('--smoke', action='store_true', help='tiny sizes, one step')
    args = p.parse_args(argv)
    if args.smoke:
        args.depth, args.size, args.batch, args.steps, args.warmup = 18, 64, 2, 1, 0
    if args.size is None and not args.configs:
        args.size = 128
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    if argv is None:
        ensure_malloc_returns_memory()
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmlc  # noqa: F401

    init_default_scope('mmpretrain')  # LARS and the models live in mmpretrain's registries
    MessageHub.get_current_instance().update_info('max_iters', 10**6)  # CosineEMA reads it
    torch.manual_seed(0)
    if args.configs:
        names, models, wrappers, notes = config_models(args.configs, args.device)
        data = config_batch(args.configs[args.views_from], args.batch, args.size)
    else:
        names, models, wrappers, notes = ['BYOL', 'BYOL+LC'], {}, {}, []
        byol_cfg, lc_cfg = model_cfgs(args.depth, args.lc_impl)
        for name, cfg in zip(names, (byol_cfg, lc_cfg)):
            models[name] = MODELS.build(cfg).to(args.device).train()
            wrappers[name] = build_optim_wrapper(models[name], optim_cfg())
        data = make_batch(args.batch, args.size)

    def step(name):
        return lambda: models[name].train_step(copy.copy(data), wrappers[name])

    # Interleave: warm both, then alternate timed steps.
    times = {name: [] for name in models}
    for name in models:
        for _ in range(args.warmup):
            step(name)()
    for _ in range(args.steps):
        for name in models:
            times[name].append(time_once(step(name), args.device))
    peaks = {name: peak_memory(step(name), args.device) for name in models}
    med = {name: statistics.median(ts) for name, ts in times.items()}
    rows = [[name, f'{med[name] * 1e3:.1f} ms', fmt_bytes(peaks[name])] for name in names]
    base, other = names
    mem_ratio = f'{peaks[other] / peaks[base]:.3f}' if peaks[base] and peaks[other] else 'n/a'
    if args.configs:
        views = ', '.join('x'.join(str(d) for d in v.shape[1:]) for v in data['inputs'])  # (3, H, W) per view
        out = '\n'.join([
            header(args),
            f'A = {args.configs[0]}',
            f'B = {args.configs[1]}',
            f'batch {args.batch}, views ({views}) from {names[args.views_from]}\'s pipeline, the same for both; '
            f'median of {args.steps} interleaved steps after {args.warmup} warm-up',
            *notes,
            '',
            table(rows, ['model', 'step time', 'peak step memory']),
            '',
            f'ratio B/A: time {med[other] / med[base]:.3f}, memory {mem_ratio}',
        ])
        print(out)
        return out

    # Breakdown of the local branch on the feature map the backbone produces at this size.
    lc = models['BYOL+LC']
    with torch.no_grad():
        feats = lc.backbone(torch.randn(args.batch, 3, args.size, args.size, device=args.device))
    feat = feats[-1].detach().requires_grad_()

    def local_neck_fwd_bwd():
        lc.local_neck((feat, ))[0].sum().backward()

    with torch.no_grad():
        target_local = lc.target_local_neck((feat.detach(), ))[0]
    online_local = target_local.clone().requires_grad_()
    grid = lc.correspondence(data['data_samples'], target_local.shape[-2:], target_local.device)

    def loss_fwd_bwd():
        lc.local_head.loss(target_local, online_local, grid).backward()

    neck_t = median_time(local_neck_fwd_bwd, args.device, 1 if args.warmup else 0, max(args.steps // 2, 1))
    loss_t = median_time(loss_fwd_bwd, args.device, 1 if args.warmup else 0, max(args.steps // 2, 1))

    h, w = target_local.shape[-2:]
    out = '\n'.join([
        header(args),
        f'ResNet-{args.depth}, {args.size} px, batch {args.batch}, local map {h}x{w}, '
        f'median of {args.steps} interleaved steps after {args.warmup} warm-up',
        '',
        table(rows, ['model', 'step time', 'peak step memory']),
        '',
        f'ratio LC/BYOL: time {med["BYOL+LC"] / med["BYOL"]:.3f}, memory {mem_ratio}',
        f'local branch parts: local neck fwd+bwd {neck_t * 1e3:.1f} ms, LC-loss fwd+bwd {loss_t * 1e3:.1f} ms '
        f'(step difference {(med["BYOL+LC"] - med["BYOL"]) * 1e3:.1f} ms)',
    ])
    print(out)
    return out


if __name__ == '__main__':
    main()

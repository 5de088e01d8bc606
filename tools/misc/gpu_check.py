# Copyright (c) mmlc contributors. All rights reserved.
"""GPU self-check: one table saying whether this machine can pretrain mmlc, and at what relative cost.

    bash tools/misc/gpu_check.sh [--gpus N]          # a GPU machine: every visible GPU, <= 5 minutes
    bash tools/misc/gpu_check.sh --reduced           # tiny sizes on whatever device there is
    python tools/misc/gpu_check.py --parts mmcv_ops lc_loss

Parts (each runs in its own try/except; one that fails does not stop the others):

* ``mmcv_ops``: ``mmcv.ops.nms`` and ``mmcv.ops.roi_align`` on CUDA tensors against torchvision and a case
  worked out by hand (SKIPPED without CUDA or when mmcv was built without its CUDA ops).
* ``amp_step``: ``train_step`` of the BYOL and BYOL + LC ResNet-50 configs at 224 px under their own
  optimiser wrapper (``AmpOptimWrapper``: fp16 autocast + dynamic loss scale; LARS), one process per GPU
  with SyncBN over NCCL, or one process where SyncBN reverts to BN as mmengine's Runner does. Reports the
  step-time and peak-memory ratios LC / BYOL and whether any loss, gradient or parameter went NaN/inf.
* ``lc_loss``: naive vs memory-lean LC-loss at 28 x 28 in AMP's fp16 (``benchmarks/bench_loss.py``'s case).
* ``pipeline``: data-pipeline throughput from JPEG files, one worker and a DataLoader with a worker per core (up to
  8) (``benchmarks/bench_pipeline.py``): LC against mmpretrain's BYOL, and the worker part when the colour moves to
  the preprocessor.
* ``preproc_colour``: the colour transforms batched in ``ColourAugDataPreprocessor`` on the GPU: the same
  parameters give the CPU batch's pixels (mean |diff| <= 1, max <= 8 levels), and its time per sample against the
  CPU transforms (``benchmarks/bench_colour.py``).

Without CUDA (or with ``--reduced``) every part runs at tiny scale (ResNet-18, 64 px, 2 steps, fp32 where
the CPU refuses AMP), which is how the test suite keeps this script from rotting. Exit code 1 on any FAIL.
"""

import argparse
import contextlib
import copy
import gc
import io
import json
import math
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch

REPO_ROOT = osp.abspath(osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
sys.path.insert(0, REPO_ROOT)  # a checkout without install
sys.path.insert(0, osp.join(REPO_ROOT, 'benchmarks'))  # the benchmark scripts' building blocks

import bench_colour
import bench_loss
import bench_pipeline
import bench_step
from _common import ensure_malloc_returns_memory, measure, peak_memory, table, time_once

BYOL_CONFIG = 'configs/byol_lc/byol_resnet50_16xb256-coslr-400e_in1k.py'
LC_CONFIG = 'configs/byol_lc/byol-lc_resnet50_16xb256-coslr-400e_in1k.py'
PASS, FAIL, SKIPPED = 'PASS', 'FAIL', 'SKIPPED'
# Largest |lean - naive| accepted, relative for the loss and norm-wise for the gradient. Half precision: the
# test suite's bounds (tests/test_models/test_lc_loss_amp.py) in units of u, the loss's doubled for margin.
UNIT_ROUNDOFF = {'float16': 2.0**-11, 'bfloat16': 2.0**-8}
FP32_TOL = (1e-5, 1e-4)


@dataclass
class Row:
    """One line of the table."""

    part: str
    status: str
    figures: str = ''
    reason: str = ''


class Skip(Exception):
    """Raised by a part that cannot run here; its message is the reason."""


# --------------------------------------------------------------------------------------------------------------
# Part 1: mmcv's CUDA ops.


def check_mmcv_ops(device: str) -> str:
    """``mmcv.ops.nms`` and ``roi_align`` on ``device`` against torchvision and a hand-worked case.

    Returns:
        str: The figures (largest differences); raises ``AssertionError`` on a mismatch.
    """
    import torchvision
    from mmcv.ops import nms, roi_align

    # nms, by hand: IoU(box 0, box 1) = 81 / 119 = 0.68 > 0.5, so box 1 goes; box 2 overlaps nothing.
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]], device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    _, keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == [0, 2], f'nms kept {keep.tolist()}, expected [0, 2]'
    # nms against torchvision on 300 random boxes (distinct scores, so the order is defined).
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(300, 2, generator=g) * 30], 1).to(device)
    scores = torch.randperm(300, generator=g).float().div(300).to(device)
    _, keep = nms(boxes, scores, 0.5)
    want = torchvision.ops.nms(boxes, scores, 0.5)
    assert torch.equal(keep.long().cpu(), want.cpu()), 'nms differs from torchvision.ops.nms'

    # roi_align, by hand: on the map f(y, x) = x every bilinear sample is its own x, so each bin's average is
    # its centre's x. ROI x 1..5 (aligned: pixel centres at integers, so 0.5..4.5) in 2 bins: centres 1.5, 3.5.
    ramp = torch.arange(8.).repeat(8, 1)[None, None].to(device)  # (1, 1, 8, 8), value = column index
    roi = torch.tensor([[0., 1., 1., 5., 5.]], device=device)
    out = roi_align(ramp, roi, (2, 2), 1.0, 2, 'avg', True)  # (1, 1, 2, 2)
    hand = torch.tensor([[1.5, 3.5], [1.5, 3.5]], device=device)
    hand_diff = (out[0, 0] - hand).abs().max().item()
    assert hand_diff < 1e-5, f'roi_align on a ramp: {out[0, 0].tolist()}, expected {hand.tolist()}'
    # roi_align against torchvision on random features and ROIs.
    feats = torch.randn(2, 16, 32, 32, generator=g).to(device)
    corners = torch.rand(20, 2, generator=g) * 20
    rois = torch.cat(
        [torch.randint(0, 2, (20, 1), generator=g).float(), corners, corners + 2 + torch.rand(20, 2, generator=g) * 10],
        1).to(device)  # (20, 5)
    got = roi_align(feats, rois, (7, 7), 0.5, 2, 'avg', True)  # (20, 16, 7, 7)
    want = torchvision.ops.roi_align(feats, rois, (7, 7), 0.5, 2, True)
    tv_diff = (got - want).abs().max().item()
    assert tv_diff < 1e-4, f'roi_align differs from torchvision by {tv_diff:.1e}'
    return (f'nms = torchvision on 300 boxes and the hand case; roi_align max |diff| {tv_diff:.1e} vs '
            f'torchvision, {hand_diff:.1e} vs hand ({device})')


def part_mmcv_ops(args: argparse.Namespace, ctx: dict) -> Row:
    if args.device != 'cuda':
        raise Skip('CPU run (--device cpu)' if torch.cuda.is_available(
        ) else 'no CUDA device (torch.cuda.is_available() is False)')
    from mmcv.ops import get_compiling_cuda_version
    if get_compiling_cuda_version() == 'not available':
        raise Skip('mmcv was built without its CUDA ops (mmcv.ops.get_compiling_cuda_version(): not available); '
                   'rebuild it on this machine with tools/setup_env.sh')
    return Row('mmcv_ops', PASS, check_mmcv_ops('cuda'))


# --------------------------------------------------------------------------------------------------------------
# Part 2: AMP training steps of BYOL and BYOL + LC.


def model_cfgs(reduced: bool) -> Dict[str, Tuple[dict, dict, Optional[dict]]]:
    """(model, optim_wrapper, first param_scheduler) of each config, as the Runner would build them."""
    from mmengine.config import Config
    out = {}
    for name, path in (('BYOL', BYOL_CONFIG), ('BYOL+LC', LC_CONFIG)):
        cfg = Config.fromfile(osp.join(REPO_ROOT, path))
        model = copy.deepcopy(cfg.model)
        if cfg.get('data_preprocessor') is not None:  # the Runner's rule
            model.setdefault('data_preprocessor', cfg.data_preprocessor)
        if reduced:  # ResNet-18 and narrow projectors: the same code paths at a fraction of the cost
            model.backbone.depth = 18
            model.neck.update(in_channels=512, hid_channels=512)
            model.head.predictor.update(hid_channels=512)
            if 'local_neck' in model:
                model.local_neck.update(in_channels=512, hid_channels=512)
        schedulers = cfg.get('param_scheduler') or [None]
        out[name] = (model, copy.deepcopy(cfg.optim_wrapper), copy.deepcopy(schedulers[0]))
    return out


def _first_lr(optim_cfg: dict, scheduler: Optional[dict]) -> float:
    """The learning rate of a real run's first iterations: the config's lr at the start of its linear warm-up."""
    lr = optim_cfg['optimizer']['lr']
    if scheduler is not None and scheduler.get('type') == 'LinearLR':
        lr *= scheduler.get('start_factor', 1. / 3)
    return lr


def run_steps(args: argparse.Namespace, rank: int = 0, world: int = 1) -> Dict[str, dict]:
    """Build both models and run ``args.steps`` training steps of each on the same batch.

    One process per GPU when ``world > 1`` (the process group must exist). Each model is built, trained and
    freed in turn, so the CUDA peak of each is its own.

    Returns:
        dict: Per model, the per-step ``times`` (s), ``step_peaks`` (extra bytes of each step),
        ``abs_peak`` (bytes allocated at the highest point of any step: weights, EMA target, optimiser state,
        gradients and activations; CUDA only), ``losses_finite`` and ``grads_finite`` (one bool per step),
        ``scales`` (AMP loss scale after each step), ``params_finite``, ``norm`` and ``precision``.
    """
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from mmlc.engine import DeviceAgnosticDDP

    init_default_scope('mmpretrain')
    # The current logger for mmengine's build-time chatter (init_weights, paramwise options): errors only,
    # so that the table is the output.
    MMLogger.get_instance('gpu_check', log_level='ERROR')
    MessageHub.get_current_instance().update_info('max_iters', 10**6)  # CosineEMA reads it
    cuda = args.device == 'cuda'
    device = f'cuda:{rank}' if cuda else 'cpu'
    data = bench_step.make_batch(args.batch, args.size)
    results = {}
    for name, (model_cfg, optim_cfg, scheduler) in model_cfgs(args.reduced).items():
        torch.manual_seed(0)
        gc.collect()  # the previous model: its optimiser wrapper and the step hook below form a cycle
        if cuda:
            torch.cuda.empty_cache()
        model = MODELS.build(model_cfg)
        model.init_weights()
        if world == 1 or not cuda:  # one process: the Runner's revert; gloo on CPU: SyncBN needs GPU tensors
            model = revert_sync_batchnorm(model)
        model = model.to(device).train()
        sync_bn = any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())

        optim_cfg = copy.deepcopy(optim_cfg)
        amp = optim_cfg.get('type') == 'AmpOptimWrapper'
        if amp and not cuda:  # mmengine's AmpOptimWrapper refuses the CPU
            optim_cfg.type = 'OptimWrapper'
            for key in ('loss_scale', 'dtype', 'use_fsdp'):
                optim_cfg.pop(key, None)
        optim_cfg.optimizer.lr = _first_lr(optim_cfg, scheduler)
        wrapper = build_optim_wrapper(model, optim_cfg)
        if world > 1:
            model = DeviceAgnosticDDP(
                module=model,
                device_ids=[rank] if cuda else None,
                broadcast_buffers=False,
                find_unused_parameters=False)

        params = [p for p in model.parameters() if p.requires_grad]
        grads_finite, losses_finite, scales = [], [], []
        original_step = wrapper.step

        def checked_step(**kwargs):
            # Before the (scaled) update: a non-finite gradient here is one GradScaler will skip.
            grads = [p.grad.detach() for p in params if p.grad is not None]
            grads_finite.append(bool(torch.stack([g.isfinite().all() for g in grads]).all()))
            return original_step(**kwargs)

        wrapper.step = checked_step
        times, step_peaks, abs_peak = [], [], None

        def one_step():
            log_vars = model.train_step(copy.copy(data), wrapper)
            losses_finite.append(all(math.isfinite(float(v.detach())) for k, v in log_vars.items() if 'loss' in k))
            if hasattr(wrapper, 'loss_scaler'):
                scales.append(float(wrapper.loss_scaler.get_scale()))

        for _ in range(args.steps):
            step_peaks.append(peak_memory(lambda: times.append(time_once(one_step, device)), device))
            if cuda:  # peak_memory resets the peak before each step: this is the step's peak of all memory
                abs_peak = max(abs_peak or 0, torch.cuda.max_memory_allocated(device))
        results[name] = dict(
            times=times,
            step_peaks=step_peaks,
            losses_finite=losses_finite,
            grads_finite=grads_finite,
            scales=scales,
            params_finite=all(bool(p.detach().isfinite().all()) for p in model.parameters()),
            abs_peak=abs_peak,
            norm=('SyncBN' if sync_bn else 'BN'),
            precision=('fp16 AMP (AmpOptimWrapper, dynamic loss scale)'
                       if amp and cuda else 'fp32 (AmpOptimWrapper refuses the CPU)' if amp else 'fp32'))
        model = wrapper = params = None  # (not `del`: the closures above read these names)
    return results


def judge_steps(rec: dict) -> Tuple[str, str]:
    """PASS or FAIL for one model's step records (merged over processes), and the reason of a FAIL.

    Dynamic loss scaling starts high and halves on overflow, skipping those steps: a few non-finite
    gradients early on are the scaler at work, not a fault. A fault is a non-finite loss or parameter,
    a non-finite gradient in the last step (the scale has not settled), or most steps skipped.
    """
    n = len(rec['losses_finite'])
    bad_loss = [i for i, ok in enumerate(rec['losses_finite']) if not ok]
    if bad_loss:
        return FAIL, f'non-finite loss at step(s) {[i + 1 for i in bad_loss]}'
    if not rec['params_finite']:
        return FAIL, 'non-finite parameters after the steps'
    grads = rec['grads_finite']
    if grads and not grads[-1]:
        return FAIL, f'non-finite gradients in the last step ({grads.count(False)}/{len(grads)} steps)'
    if grads.count(False) > n // 2:
        return FAIL, f'{grads.count(False)}/{len(grads)} steps had non-finite gradients'
    return PASS, ''


def merge_ranks(per_rank: List[Dict[str, dict]]) -> Dict[str, dict]:
    """One record per model over all processes: the slowest process per step, the largest peaks, and
    finiteness only where every process was finite."""
    merged = {}
    for name in per_rank[0]:
        recs = [r[name] for r in per_rank]
        merged[name] = dict(recs[0])
        merged[name].update(
            times=[max(ts) for ts in zip(*(r['times'] for r in recs))],
            step_peaks=[None if None in ps else max(ps) for ps in zip(*(r['step_peaks'] for r in recs))],
            abs_peak=None if recs[0]['abs_peak'] is None else max(r['abs_peak'] for r in recs),
            losses_finite=[all(v) for v in zip(*(r['losses_finite'] for r in recs))],
            grads_finite=[all(v) for v in zip(*(r['grads_finite'] for r in recs))],
            params_finite=all(r['params_finite'] for r in recs))
    return merged


def _worker_argv(args: argparse.Namespace) -> List[str]:
    argv = [
        '--device', args.device, '--batch',
        str(args.batch), '--size',
        str(args.size), '--steps',
        str(args.steps), '--warmup',
        str(args.warmup), '--gpus',
        str(args.gpus)
    ]
    return argv + (['--reduced'] if args.reduced else [])


def launch_ranks(args: argparse.Namespace) -> List[Dict[str, dict]]:
    """Run :func:`run_steps` in ``args.gpus`` processes with torchrun; their records, by rank."""
    with tempfile.TemporaryDirectory(prefix='gpu_check_') as out_dir:
        cmd = [
            sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={args.gpus}',
            osp.abspath(__file__), '--worker-out', out_dir
        ] + _worker_argv(args)
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get('PYTHONPATH')])),
            OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=args.step_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # torchrun and the workers it started, all in the session we created
            proc.communicate()
            raise RuntimeError(f'{args.gpus} processes did not finish within --step-timeout {args.step_timeout} s')
        if proc.returncode != 0:
            tail = ' / '.join(line for line in log.strip().splitlines()[-3:])
            raise RuntimeError(f'torchrun exited with {proc.returncode}: {tail}')
        ranks = []
        for rank in range(args.gpus):
            with open(osp.join(out_dir, f'rank{rank}.json')) as f:
                ranks.append(json.load(f))
        return ranks


def worker_main(args: argparse.Namespace) -> None:
    """Entry point of one torchrun process: join the group, run the steps, write the records."""
    import torch.distributed as torch_dist

    if args.device == 'cuda':
        from mmengine.dist import init_dist
        init_dist('pytorch', backend='nccl')  # sets this process' GPU from LOCAL_RANK
    else:  # gloo, from torchrun's environment (mmengine's init_dist would pick a GPU first)
        torch_dist.init_process_group(backend='gloo')
    rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
    try:
        records = run_steps(args, int(os.environ.get('LOCAL_RANK', rank)), world)
        with open(osp.join(args.worker_out, f'rank{rank}.json'), 'w') as f:
            json.dump(records, f)
    finally:
        torch_dist.destroy_process_group()


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f'{a / b:.3f}' if a and b else 'n/a'


def part_amp_step(args: argparse.Namespace, ctx: dict) -> Row:
    per_rank = launch_ranks(args) if args.gpus > 1 else [run_steps(args)]
    recs = merge_ranks(per_rank)
    ctx['steps'] = recs
    byol, lc = recs['BYOL'], recs['BYOL+LC']
    timed = slice(args.warmup, None)
    med = {n: statistics.median(r['times'][timed]) for n, r in recs.items()}
    peak = {n: None if None in r['step_peaks'][timed] else max(r['step_peaks'][timed]) for n, r in recs.items()}
    if args.gpus > 1:
        norm = f'{lc["norm"]} ({args.gpus} processes, {"NCCL" if args.device == "cuda" else "gloo"})'
    else:
        norm = f'SyncBN -> {lc["norm"]} (1 process, reverted as mmengine\'s Runner does)'
    parts = [
        f'ResNet-{18 if args.reduced else 50} {args.size} px, batch {args.batch}/process x {args.gpus}, {norm}, '
        f'{lc["precision"]}, lr at warm-up start',
        f'step BYOL {med["BYOL"] * 1e3:.1f} ms, LC {med["BYOL+LC"] * 1e3:.1f} ms, ratio LC/BYOL '
        f'{med["BYOL+LC"] / med["BYOL"]:.3f} (median of steps {args.warmup + 1}-{args.steps})',
        f'peak step memory ratio LC/BYOL {_ratio(peak["BYOL+LC"], peak["BYOL"])}',
    ]
    if lc['abs_peak'] is not None:
        parts.append(f'peak allocated BYOL {byol["abs_peak"] / 2**30:.2f} GiB, LC {lc["abs_peak"] / 2**30:.2f} GiB, '
                     f'ratio {_ratio(lc["abs_peak"], byol["abs_peak"])}')
    verdicts = {n: judge_steps(r) for n, r in recs.items()}
    finite = ', '.join(f'{n} loss {sum(r["losses_finite"])}/{len(r["losses_finite"])} grads '
                       f'{sum(r["grads_finite"])}/{len(r["grads_finite"])}' for n, r in recs.items())
    parts.append(f'finite: {finite}' +
                 (f', loss scale {lc["scales"][0]:g} -> {lc["scales"][-1]:g}' if lc['scales'] else ''))
    failed = [f'{n}: {reason}' for n, (status, reason) in verdicts.items() if status == FAIL]
    return Row('amp_step', FAIL if failed else PASS, '; '.join(parts), '; '.join(failed))


# --------------------------------------------------------------------------------------------------------------
# Part 3: naive vs lean LC-loss.


def part_lc_loss(args: argparse.Namespace, ctx: dict) -> Row:
    device = 'cuda' if args.device == 'cuda' else 'cpu'
    dtype = 'float16' if device == 'cuda' else 'float32'  # fp16: the features' dtype under AMP
    batch, channels, warmup, repeats = (2, 32, 0, 1) if args.reduced else (args.batch, 256, 1, 3)
    target, online, grid = bench_loss.make_case(batch, 28, channels, device, dtype=getattr(torch, dtype))
    naive_t, naive_m = measure(lambda: bench_loss.run_once(target, online, grid, 'naive'), device, warmup, repeats)
    lean_t, lean_m = measure(lambda: bench_loss.run_once(target, online, grid, 'lean'), device, warmup, repeats)
    loss_n, grad_n = bench_loss.run_once(target, online, grid, 'naive')
    loss_l, grad_l = bench_loss.run_once(target, online, grid, 'lean')
    loss_err = ((loss_l.double() - loss_n.double()).abs() / loss_n.double().abs()).item()
    grad_err = ((grad_l.double() - grad_n.double()).norm() / grad_n.double().norm()).item()
    loss_tol, grad_tol = ((2 * UNIT_ROUNDOFF[dtype], 8 * UNIT_ROUNDOFF[dtype]) if dtype in UNIT_ROUNDOFF else FP32_TOL)
    figures = (f'28x28, batch {batch}, {channels} ch, {dtype}: time lean/naive {lean_t / naive_t:.2f} '
               f'({lean_t * 1e3:.1f} / {naive_t * 1e3:.1f} ms), memory lean/naive {_ratio(lean_m, naive_m)}; '
               f'lean vs naive: loss rel. {loss_err:.1e}, gradient rel. {grad_err:.1e}')
    ok = (
        math.isfinite(loss_l.item()) and bool(grad_l.isfinite().all()) and loss_err <= loss_tol
        and grad_err <= grad_tol)
    reason = '' if ok else f'lean and naive disagree beyond {loss_tol:.1e} (loss) / {grad_tol:.1e} (gradient)'
    return Row('lc_loss', PASS if ok else FAIL, figures, reason)


# --------------------------------------------------------------------------------------------------------------
# Part 4: data pipeline.


def read_pipeline_table(text: str) -> Tuple[Dict[str, float], float, Dict[str, float]]:
    """From ``bench_pipeline.py``'s printed output: images/s per pipeline of one worker, the LC/BYOL ratio, and
    images/s per pipeline through the DataLoader (empty without that part)."""
    per_worker, _, loader = text.partition('DataLoader (')
    row = re.compile(r'^\| (BYOL[^|]*?) +\| +([0-9.]+) +\| +([0-9.]+) +\|$', re.M)
    rates = {m[1]: float(m[2]) for m in row.finditer(per_worker)}
    ratio = re.search(r'ratio LC/BYOL throughput: ([0-9.]+)', text)
    if len(rates) < 2 or ratio is None:
        raise RuntimeError(f'could not read bench_pipeline.py\'s output: {text[-200:]!r}')
    return rates, float(ratio[1]), {m[1]: float(m[2]) for m in row.finditer(loader)}


def part_pipeline(args: argparse.Namespace, ctx: dict) -> Row:
    threads = torch.get_num_threads()
    out = io.StringIO()
    workers = min(8, os.cpu_count() or 1)
    try:
        with contextlib.redirect_stdout(out):  # one table: the benchmark's own print stays out of it
            bench_pipeline.main(['--smoke'] if args.reduced else ['--size', '224', '--workers', str(workers)])
    finally:
        torch.set_num_threads(threads)  # the benchmark sets one thread, as a data worker has
    rates, ratio, loader = read_pipeline_table(out.getvalue())
    names = list(rates)  # as printed: BYOL as shipped first, LC's default third
    byol, lc = rates[names[0]], rates[names[2]]
    figures = [f'1 worker, JPEG files: BYOL {byol:.1f} img/s, LC {lc:.1f} img/s, ratio LC/BYOL {ratio:.3f}']
    no_colour = [n for n in names if 'LC' in n and 'preprocessor' in n]
    if no_colour:
        figures.append(f'LC worker part with colour in the preprocessor {rates[no_colour[0]]:.1f} img/s')
    if loader:
        figures.append('DataLoader: ' + ', '.join(f'{n} {r:.1f} img/s' for n, r in loader.items()))
    steps = ctx.get('steps')
    if steps is not None:  # how many such workers each GPU needs to keep up with the measured LC step
        step_s = statistics.median(steps['BYOL+LC']['times'][args.warmup:])
        need = args.batch / step_s
        figures.append(f'feeding the measured LC step ({args.batch} images / {step_s * 1e3:.0f} ms) takes '
                       f'>= {math.ceil(need / lc)} such workers per GPU (JPEG decoding included)')
    return Row('pipeline', PASS if byol > 0 and lc > 0 else FAIL, '; '.join(figures))


# Largest accepted difference, in grey levels, between the batched colour ops on the device and on the CPU for
# the same parameters (the tolerance for a changed op).
COLOUR_TOL = (1.0, 8.0)  # (mean, max)


def part_preproc_colour(args: argparse.Namespace, ctx: dict) -> Row:
    import mmcv
    import numpy as np

    from mmlc.datasets import BUNDLED_PHOTOS, as_three_channel_uint8, bundled_photo_path
    from mmlc.datasets.transforms import COLOUR_PRESETS
    from mmlc.models.data_preprocessors import BatchedColourPipeline
    size, batch = (32, 4) if args.reduced else (224, 64)
    photos = [as_three_channel_uint8(mmcv.imread(bundled_photo_path(n))) for n in list(BUNDLED_PHOTOS)[:8]]
    views = [mmcv.imresize(img, (size, size), interpolation='bicubic', backend='pillow') for img in photos]
    samples = np.stack([views[i % len(views)] for i in range(batch)])
    x = torch.from_numpy(samples).permute(0, 3, 1, 2).float()  # (B, 3, S, S) BGR levels
    worst_mean, worst_max = 0., 0.
    for preset in sorted(COLOUR_PRESETS):
        pipe = BatchedColourPipeline(preset)
        params = pipe.sample(batch, torch.Generator().manual_seed(0))
        on_device = pipe.apply(x.to(args.device), params).cpu()
        diff = (on_device - pipe.apply(x, params)).abs()
        worst_mean, worst_max = max(worst_mean, diff.mean().item()), max(worst_max, diff.max().item())
    cost = bench_colour.colour_costs(views, batch, 1 if args.reduced else 3, args.device)
    figures = (f'{size} px, batch {batch}, presets {sorted(COLOUR_PRESETS)}: {args.device} vs CPU batch abs diff '
               f'mean {worst_mean:.3f} max {worst_max:.0f} levels; colour of both views per sample: batched on '
               f'{args.device} {cost["batched_ms"]:.3f} ms, CPU transforms {cost["cpu_ms"]:.2f} ms (mmpretrain), '
               f'{cost["cpu_fast_ms"]:.2f} ms (fast ops)')
    ok = worst_mean <= COLOUR_TOL[0] and worst_max <= COLOUR_TOL[1]
    reason = '' if ok else f'device and CPU batches differ beyond mean {COLOUR_TOL[0]} / max {COLOUR_TOL[1]} levels'
    return Row('preproc_colour', PASS if ok else FAIL, figures, reason)


# Looked up at call time, so a test can replace one part.
PARTS: Dict[str, Callable[[argparse.Namespace, dict], Row]] = {
    'mmcv_ops': part_mmcv_ops,
    'amp_step': part_amp_step,
    'lc_loss': part_lc_loss,
    'pipeline': part_pipeline,
    'preproc_colour': part_preproc_colour,
}

# --------------------------------------------------------------------------------------------------------------
# Running and reporting.


def run_parts(names: List[str], args: argparse.Namespace) -> List[Row]:
    """Each part in its own try/except: an exception is a FAIL row (traceback on stderr), never a stop."""
    rows, ctx = [], {}
    for name in names:
        start = time.perf_counter()
        try:
            row = PARTS[name](args, ctx)
        except Skip as e:
            row = Row(name, SKIPPED, reason=str(e))
        except Exception as e:  # noqa: BLE001 -- every failure must become a row
            traceback.print_exc(file=sys.stderr)
            row = Row(name, FAIL, reason=f'{type(e).__name__}: {e}')
        if row.status != SKIPPED:
            row.figures = f'{row.figures}; {time.perf_counter() - start:.0f} s'.lstrip('; ')
        rows.append(row)
    return rows


def _cell(text: str, limit: int = 1000) -> str:
    """A table cell: one line, no column separators, bounded length."""
    text = ' '.join(str(text).split()).replace('|', '/')
    return text if len(text) <= limit else text[:limit - 3] + '...'


def format_table(rows: List[Row]) -> str:
    """The report: a Markdown table part | status | figures | reason."""
    return table([[_cell(r.part), r.status, _cell(r.figures),
                   _cell(r.reason)] for r in rows], ['part', 'status', 'figures', 'reason'])


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        '--gpus',
        type=int,
        default=None,
        help='processes for the training steps, one per GPU (default: every visible GPU; 1 on CPU)')
    p.add_argument(
        '--reduced', action='store_true', help='tiny sizes (ResNet-18, 64 px, 2 steps); automatic without CUDA')
    p.add_argument('--device', choices=['auto', 'cuda', 'cpu'], default='auto')
    p.add_argument('--batch', type=int, default=None, help='images per GPU (default 64; reduced 2)')
    p.add_argument('--size', type=int, default=None, help='view size in px (default 224; reduced 64)')
    p.add_argument('--steps', type=int, default=None, help='training steps per model (default 20; reduced 2)')
    p.add_argument('--warmup', type=int, default=None, help='untimed first steps (default 5; reduced 0)')
    p.add_argument('--step-timeout', type=int, default=240, help='seconds allowed to the multi-process steps')
    p.add_argument('--parts', nargs='+', choices=list(PARTS), default=list(PARTS), help='parts to run, in order')
    p.add_argument('--worker-out', help=argparse.SUPPRESS)  # internal: one torchrun process of amp_step
    args = p.parse_args(argv)
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    args.reduced = args.reduced or args.device == 'cpu'
    defaults = dict(
        batch=2, size=64, steps=2, warmup=0) if args.reduced else dict(
            batch=64, size=224, steps=20, warmup=5)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.gpus is None:
        args.gpus = max(torch.cuda.device_count(), 1) if args.device == 'cuda' else 1
    if not 0 <= args.warmup < args.steps:
        p.error('--warmup must be at least 0 and less than --steps')
    if args.device == 'cuda' and args.gpus > torch.cuda.device_count():
        p.error(f'--gpus {args.gpus}: only {torch.cuda.device_count()} visible')
    return args


def header(args: argparse.Namespace) -> str:
    import mmcv
    if args.device == 'cuda':
        names = sorted({torch.cuda.get_device_name(i) for i in range(args.gpus)})
        where = f'{args.gpus} x {", ".join(names)}'
    else:
        where = f'CPU ({os.cpu_count()} cores)'
    mode = 'reduced (tiny sizes' + (', CPU)' if args.device == 'cpu' else ')') if args.reduced else 'full'
    return (f'mmlc GPU self-check: torch {torch.__version__}, mmcv {mmcv.__version__}, {where}, mode {mode}, '
            f'command: {" ".join([osp.basename(sys.executable)] + sys.argv)}')


def main(argv: Optional[List[str]] = None) -> int:
    """Run the selected parts, print the table, return the exit code (1 if any part FAILed)."""
    args = parse_args(argv)
    if args.worker_out:
        worker_main(args)
        return 0
    if argv is None:
        ensure_malloc_returns_memory()  # CPU peak readings (benchmarks/_common.py)
    rows = run_parts(args.parts, args)
    print(header(args))
    print()
    print(format_table(rows))
    return 1 if any(r.status == FAIL for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())

# Copyright (c) mmlc contributors. All rights reserved.
"""Shared measurement helpers for the benchmark scripts (not part of the mmlc package)."""

import os
import platform
import statistics
import sys
import time
from typing import Callable, List, Optional, Tuple

import torch


def header(args) -> str:
    """Command line, torch version, device and thread count: what a reader needs to trust a table."""
    device = args.device
    if device.startswith('cuda') and torch.cuda.is_available():
        device = f'{device} ({torch.cuda.get_device_name(torch.device(device))})'
    else:
        device = f'{device} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)'
    return '\n'.join([
        f'command: {" ".join([os.path.basename(sys.executable)] + sys.argv)}',
        f'torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}',
    ])


def _rss_reset() -> Optional[int]:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) and return the current RSS in bytes."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return _proc_status('VmRSS')
    except OSError:
        return None


def _proc_status(key: str) -> Optional[int]:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    return None


def time_once(fn: Callable[[], object], device: str) -> float:
    """Wall time (s) of one call of ``fn``, waiting for the GPU on CUDA."""
    cuda = device.startswith('cuda')
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], device: str, warmup: int, repeats: int) -> float:
    """Median wall time (s) of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    return statistics.median(time_once(fn, device) for _ in range(repeats))


def peak_memory(fn: Callable[[], object], device: str) -> Optional[float]:
    """Peak extra memory (bytes) of one call of ``fn``; None where it cannot be read.

    On CUDA the peak is ``torch.cuda.max_memory_allocated`` above the memory allocated before the call;
    on CPU it is the process' peak resident set size above its size before the call (Linux), which
    requires large allocations to go back to the system when freed: run with
    ``MALLOC_MMAP_THRESHOLD_=65536`` (the scripts re-execute themselves with it).
    """
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    base = _rss_reset()
    fn()
    high = _proc_status('VmHWM')
    return None if base is None or high is None else max(high - base, 0)


def measure(fn: Callable[[], object], device: str, warmup: int, repeats: int) -> Tuple[float, Optional[float]]:
    """:func:`median_time` of ``fn`` and, from one more call, its :func:`peak_memory`."""
    return median_time(fn, device, warmup, repeats), peak_memory(fn, device)


def ensure_malloc_returns_memory() -> None:
    """Re-exec with a fixed glibc mmap threshold so freed tensors leave the RSS (CPU peak memory)."""
    if os.environ.get('MALLOC_MMAP_THRESHOLD_') is None and sys.platform.startswith('linux'):
        os.environ['MALLOC_MMAP_THRESHOLD_'] = '65536'
        os.execv(sys.executable, [sys.executable] + sys.argv)


def fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return 'n/a'
    return f'{n / 2**20:.1f} MiB'


def table(rows: List[List[str]], head: List[str]) -> str:
    """A Markdown table."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: '| ' + ' | '.join(str(x).ljust(w) for x, w in zip(r, widths)) + ' |'  # noqa: E731
    return '\n'.join([line(head), '|' + '|'.join('-' * (w + 2) for w in widths) + '|'] + [line(r) for r in rows])

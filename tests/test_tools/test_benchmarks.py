# Copyright (c) mmlc contributors. All rights reserved.
"""The benchmark scripts run in smoke mode and print their tables (so they do not rot)."""
import importlib.util
import os.path as osp
import re

from conftest import REPO_ROOT


def _load(name):
    path = osp.join(REPO_ROOT, 'benchmarks', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'bench_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_loss_smoke():
    out = _load('bench_loss').main(['--smoke'])
    assert 'torch ' in out and 'threads' in out
    diffs = [float(x) for x in re.findall(r'\| ([0-9.]+e[-+][0-9]+) +\|', out)]
    assert len(diffs) == 2 and max(diffs) < 1e-4  # naive and lean agree at both sizes


def test_bench_step_smoke():
    out = _load('bench_step').main(['--smoke'])
    assert re.search(r'ratio LC/BYOL: time [0-9.]+', out)
    assert 'BYOL+LC' in out and 'local neck fwd+bwd' in out


def test_bench_pipeline_smoke():
    out = _load('bench_pipeline').main(['--smoke'])
    assert re.search(r'ratio LC/BYOL throughput: [0-9.]+', out)

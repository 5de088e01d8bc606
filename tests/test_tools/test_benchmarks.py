# Copyright (c) mmlc contributors. All rights reserved.
"""The benchmark scripts run in smoke mode and print their tables (so they do not rot)."""
import re

from conftest import load_script


def test_bench_loss_smoke():
    out = load_script('benchmarks/bench_loss.py').main(['--smoke'])
    assert 'torch ' in out and 'threads' in out
    diffs = [float(x) for x in re.findall(r'\| ([0-9.]+e[-+][0-9]+) +\|', out)]
    assert len(diffs) == 2 and max(diffs) < 1e-4  # naive and lean agree at both sizes


def test_bench_step_smoke():
    out = load_script('benchmarks/bench_step.py').main(['--smoke'])
    assert re.search(r'ratio LC/BYOL: time [0-9.]+', out)
    assert 'BYOL+LC' in out and 'local neck fwd+bwd' in out


def test_bench_pipeline_smoke():
    out = load_script('benchmarks/bench_pipeline.py').main(['--smoke'])
    assert re.search(r'ratio LC/BYOL throughput: [0-9.]+', out)

# Copyright (c) mmlc contributors. All rights reserved.
"""The benchmark scripts run in smoke mode and print their tables (so they do not rot)."""

import os.path as osp
import re

from conftest import REPO_ROOT, load_script


def test_bench_loss_smoke():
    out = load_script('benchmarks/bench_loss.py').main(['--smoke'])
    assert 'torch ' in out and 'threads' in out
    diffs = [float(x) for x in re.findall(r'\| ([0-9.]+e[-+][0-9]+) +\|', out)]
    assert len(diffs) == 2 and max(diffs) < 1e-4  # naive and lean agree at both sizes


def test_bench_step_smoke():
    out = load_script('benchmarks/bench_step.py').main(['--smoke'])
    assert re.search(r'ratio LC/BYOL: time [0-9.]+', out)
    assert 'BYOL+LC' in out and 'local neck fwd+bwd' in out


def test_bench_step_smoke_compares_two_configs_on_the_same_views():
    base = 'configs/mocov3_lc/mocov3_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'
    plugin = 'configs/mocov3_lc/mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'
    tool = load_script('benchmarks/bench_step.py')
    out = tool.main(['--smoke', '--configs', osp.join(REPO_ROOT, base), osp.join(REPO_ROOT, plugin)])
    assert re.search(r'ratio B/A: time [0-9.]+, memory', out)
    assert '| mocov3_vit-tiny' in out and '| mocov3-lc_vit-tiny' in out
    # Smoke size (64 px) for both: the plug-in's pipeline made the batch, I_c and I_sc.
    assert 'views (3x64x64, 3x64x64) from mocov3-lc_vit-tiny' in out
    # The shared batch carries the crop records the plug-in needs.
    data = tool.config_batch(osp.join(REPO_ROOT, plugin), batch=3, size=64)
    assert [tuple(v.shape) for v in data['inputs']] == [(3, 3, 64, 64)] * 2
    assert all('sc_box' in s for s in data['data_samples'])


def test_bench_pipeline_smoke():
    out = load_script('benchmarks/bench_pipeline.py').main(['--smoke'])
    assert re.search(r'ratio LC/BYOL throughput: [0-9.]+ .* [0-9.]+ against BYOL with the fast colour ops', out)
    assert 'decoding included' in out and 'DataLoader (1 workers' in out
    for row in ('BYOL (mmpretrain, ColorJitter)', 'BYOL, fast colour ops', 'BYOL+LC, colour in preprocessor'):
        assert row in out
    # The baseline row's ratio is 1 by construction; the others are measured.
    assert re.search(r'\| BYOL \(mmpretrain, ColorJitter\) +\| [0-9.]+ +\| 1\.00 ', out)

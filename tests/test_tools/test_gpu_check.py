# Copyright (c) mmlc contributors. All rights reserved.
"""tools/misc/gpu_check.sh: the CPU reduced mode end to end, a failing part, the verdicts and the table."""

import math
import os.path as osp
import subprocess

import pytest
import torch

from conftest import REPO_ROOT, load_script

PARTS = ['mmcv_ops', 'amp_step', 'lc_loss', 'pipeline', 'preproc_colour']


@pytest.fixture(scope='module')
def gpu_check():
    return load_script('tools/misc/gpu_check.py')


def read_table(stdout: str) -> dict:
    """{part: (status, figures, reason)} from the printed table; checks that the table is all there is."""
    lines = stdout.strip().splitlines()
    assert lines[0].startswith('mmlc GPU self-check:') and lines[1] == ''
    body = lines[2:]
    assert all(line.startswith('|') and line.endswith('|') for line in body), 'something besides the table'
    assert [c.strip() for c in body[0].strip('|').split('|')] == ['part', 'status', 'figures', 'reason']
    rows = {}
    for line in body[2:]:
        part, status, figures, reason = (c.strip() for c in line.strip('|').split('|'))
        rows[part] = (status, figures, reason)
    return rows


def test_cpu_reduced_mode_end_to_end():
    # Two gloo processes, so the torchrun path the GPU run takes is exercised too (the forced-failure test
    # below covers the one-process path). --device cpu: what a machine without CUDA picks by itself.
    proc = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', 'misc', 'gpu_check.sh'), '--gpus', '2', '--device', 'cpu'],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    rows = read_table(proc.stdout)
    assert list(rows) == PARTS
    assert 'mode reduced (tiny sizes, CPU)' in proc.stdout.splitlines()[0]
    status, _, reason = rows['mmcv_ops']
    assert status == 'SKIPPED' and reason == ('CPU run (--device cpu)' if torch.cuda.is_available() else
                                              'no CUDA device (torch.cuda.is_available() is False)')
    status, figures, _ = rows['amp_step']
    assert status == 'PASS'
    assert 'ResNet-18 64 px, batch 2/process x 2, BN (2 processes, gloo)' in figures
    assert 'fp32 (AmpOptimWrapper refuses the CPU)' in figures
    assert 'finite: BYOL loss 2/2 grads 2/2, BYOL+LC loss 2/2 grads 2/2' in figures
    assert 'ratio LC/BYOL' in figures
    status, figures, _ = rows['lc_loss']
    assert status == 'PASS' and figures.startswith('28x28, batch 2, 32 ch, float32: time lean/naive')
    status, figures, _ = rows['pipeline']
    assert status == 'PASS' and 'ratio LC/BYOL' in figures and 'workers per GPU' in figures
    assert 'JPEG files' in figures and 'colour in the preprocessor' in figures and 'DataLoader: ' in figures
    status, figures, _ = rows['preproc_colour']
    # On the CPU the "device" batch is the CPU batch: the same parameters must give identical pixels.
    assert status == 'PASS' and 'cpu vs CPU batch abs diff mean 0.000 max 0 levels' in figures


def test_a_failing_part_fails_the_run_and_the_others_still_run(gpu_check, monkeypatch, capsys):

    def broken(args, ctx):
        raise RuntimeError('forced\nsecond line')

    monkeypatch.setitem(gpu_check.PARTS, 'lc_loss', broken)
    code = gpu_check.main(['--device', 'cpu', '--steps', '1'])
    assert code == 1
    rows = read_table(capsys.readouterr().out)
    assert list(rows) == PARTS
    assert rows['lc_loss'][0] == 'FAIL' and rows['lc_loss'][2] == 'RuntimeError: forced second line'
    # The part after the failure ran, and so did the one before it (here in one process: SyncBN reverted).
    assert rows['pipeline'][0] == 'PASS'
    status, figures, _ = rows['amp_step']
    assert status == 'PASS' and "SyncBN -> BN (1 process, reverted as mmengine's Runner does)" in figures
    assert rows['mmcv_ops'][0] == 'SKIPPED' and rows['preproc_colour'][0] == 'PASS'


def test_hung_processes_are_killed_and_fail_their_part(gpu_check, capsys):
    # The multi-process steps get --step-timeout seconds; here far too few for two processes even to start.
    code = gpu_check.main(
        ['--device', 'cpu', '--gpus', '2', '--step-timeout', '1', '--parts', 'amp_step', 'preproc_colour'])
    rows = read_table(capsys.readouterr().out)
    assert code == 1 and list(rows) == ['amp_step', 'preproc_colour']
    assert rows['amp_step'][0] == 'FAIL'
    assert rows['amp_step'][2] == 'RuntimeError: 2 processes did not finish within --step-timeout 1 s'
    ps = subprocess.run(['ps', '-eo', 'args'], capture_output=True, text=True).stdout
    assert '--worker-out' not in ps  # torchrun and its workers are gone


def test_mmcv_ops_check_against_torchvision_and_by_hand(gpu_check, monkeypatch):
    # The same comparisons the GPU run makes, on mmcv's CPU ops (built here).
    assert 'nms = torchvision' in gpu_check.check_mmcv_ops('cpu')
    import mmcv.ops
    real_nms = mmcv.ops.nms
    # An op that keeps one box too many is caught.
    monkeypatch.setattr(mmcv.ops, 'nms', lambda b, s, t: (None, torch.arange(len(s))))
    with pytest.raises(AssertionError, match='nms kept'):
        gpu_check.check_mmcv_ops('cpu')
    monkeypatch.setattr(mmcv.ops, 'nms', real_nms)
    # roi_align off by half a pixel (not aligned) is caught by the hand-worked ramp.
    real_roi_align = mmcv.ops.roi_align
    monkeypatch.setattr(mmcv.ops, 'roi_align', lambda x, r, o, s, n, m, a: real_roi_align(x, r, o, s, n, m, False))
    with pytest.raises(AssertionError, match='roi_align on a ramp'):
        gpu_check.check_mmcv_ops('cpu')


def _record(losses, grads, params=True):
    return dict(losses_finite=losses, grads_finite=grads, params_finite=params)


def test_judge_steps(gpu_check):
    judge = gpu_check.judge_steps
    assert judge(_record([True] * 4, [True] * 4)) == ('PASS', '')
    # The loss scaler overflowing at its initial scale and halving it: skipped steps, not a fault.
    assert judge(_record([True] * 4, [False, False, True, True])) == ('PASS', '')
    assert judge(_record([True, False, True, False], [True] * 4)) == ('FAIL', 'non-finite loss at step(s) [2, 4]')
    assert judge(_record([True] * 4, [True] * 4, params=False))[0] == 'FAIL'
    status, reason = judge(_record([True] * 4, [True, True, True, False]))
    assert status == 'FAIL' and 'last step' in reason
    status, reason = judge(_record([True] * 5, [False, False, False, True, True]))
    assert status == 'FAIL' and reason == '3/5 steps had non-finite gradients'


def test_merge_ranks(gpu_check):

    def rank(times, peaks, grads, abs_peak):
        return {
            'BYOL':
            dict(
                times=times,
                step_peaks=peaks,
                abs_peak=abs_peak,
                losses_finite=[True, True],
                grads_finite=grads,
                params_finite=True,
                scales=[],
                norm='SyncBN',
                precision='fp16')
        }

    merged = gpu_check.merge_ranks(
        [rank([1., 4.], [10, 5], [True, True], 100),
         rank([2., 3.], [7, None], [True, False], 90)])['BYOL']
    assert merged['times'] == [2., 4.]  # the slowest process sets each step's time
    assert merged['step_peaks'] == [10, None] and merged['abs_peak'] == 100
    assert merged['grads_finite'] == [True, False] and merged['norm'] == 'SyncBN'


def test_worker_arguments_round_trip(gpu_check):
    args = gpu_check.parse_args(
        ['--device', 'cpu', '--batch', '3', '--size', '96', '--steps', '4', '--warmup', '1', '--gpus', '2'])
    again = gpu_check.parse_args(gpu_check._worker_argv(args) + ['--worker-out', '/tmp/x'])
    for key in ('device', 'batch', 'size', 'steps', 'warmup', 'gpus', 'reduced'):
        assert getattr(again, key) == getattr(args, key)
    assert (args.reduced, args.batch) == (True, 3)  # no CUDA: reduced, explicit sizes kept
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--device', 'cpu', '--steps', '2', '--warmup', '2'])


def test_format_table(gpu_check):
    Row = gpu_check.Row
    text = gpu_check.format_table([
        Row('mmcv_ops', 'SKIPPED', reason='no CUDA device'),
        Row('amp_step', 'FAIL', 'a | b\nc', 'ValueError: x\n  y'),
        Row('pipeline', 'PASS', 'z' * 1100),
    ])
    lines = text.splitlines()
    assert len(lines) == 5 and len({len(line) for line in lines}) == 1  # one line per row, aligned columns
    assert [c.strip() for c in lines[0].strip('|').split('|')] == ['part', 'status', 'figures', 'reason']
    assert set(lines[1]) == {'|', '-'}
    cells = [c.strip() for c in lines[3].strip('|').split('|')]
    assert cells == ['amp_step', 'FAIL', 'a / b c', 'ValueError: x y']  # no stray column separator or newline
    figures = lines[4].strip('|').split('|')[2].strip()
    assert len(figures) == 1000 and figures.endswith('...')


def test_pipeline_output_is_read(gpu_check):
    threads = torch.get_num_threads()
    out = load_script('benchmarks/bench_pipeline.py').main(['--smoke'])
    torch.set_num_threads(threads)  # the benchmark sets a data worker's single thread
    rates, ratio, loader = gpu_check.read_pipeline_table(out)
    names = list(rates)
    assert names[0] == 'BYOL (mmpretrain, ColorJitter)' and names[2] == 'BYOL+LC (default: fast colour ops)'
    assert len(names) == 6 and list(loader) == [names[0], names[2], names[4], names[5]]
    assert math.isclose(ratio, rates[names[2]] / rates[names[0]], rel_tol=2e-3)
    with pytest.raises(RuntimeError, match='could not read'):
        gpu_check.read_pipeline_table('| something else | 1 |')

# Copyright (c) mmlc contributors. All rights reserved.
"""The one-command chain on CPU with GPUS=1: dist_train.sh -> train_test.py (train + test) -> log ->
results_table.py, on a benchmark config shrunk to the tiny data (same file name, so the same row)."""

import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmlc.downstream import PROTOCOLS
from .tiny_data import random_resnet50_checkpoint, shrink_config, write_coco
from conftest import CONFIG_DIR, REPO_ROOT

pytest.importorskip('mmdet')

NAME = 'retinanet_r50-frozen_fpn_8xb2-90k_coco.py'  # the fastest config to step


def test_dist_train_gpus1_then_results_table(tmp_path):
    ckpt = str(tmp_path / 'pretrain.pth')
    random_resnet50_checkpoint(ckpt)
    from mmdet.datasets import CocoDataset
    data = str(tmp_path / 'coco')
    ann = write_coco(data, 'train.json', 'train2017', CocoDataset.METAINFO['classes'])
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'benchmarks', 'mmdetection', NAME))
    ds = dict(data_root=data, ann_file='annotations/train.json', data_prefix=dict(img='train2017/'))
    cfg = shrink_config(cfg, str(tmp_path / 'unused'), ds, ds, ann_test=ann)
    cfg.model.backbone.norm_cfg.type = 'SyncBN'  # as in the real config: the single process must cope
    cfg.model.backbone.init_cfg.checkpoint = 'does/not/exist.pth'  # the script must override it
    os.makedirs(tmp_path / 'cfg')
    cfg.dump(str(tmp_path / 'cfg' / NAME))

    work_root = str(tmp_path / 'work')
    env = dict(os.environ, WORK_ROOT=work_root, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    proc = subprocess.run([
        'bash',
        osp.join(REPO_ROOT, 'tools', 'benchmarks', 'mmdetection', 'dist_train.sh'),
        str(tmp_path / 'cfg' / NAME), ckpt, '1'
    ],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert f'load backbone. in model from: {ckpt}' in log  # the script's checkpoint, not the config's

    proc = subprocess.run([sys.executable,
                           osp.join(REPO_ROOT, 'tools', 'benchmarks', 'results_table.py'), work_root],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    row = next(p for p in PROTOCOLS if p.config.endswith(NAME))
    line = next(line for line in proc.stdout.splitlines() if line.startswith(f'| {row.name} |'))
    cells = [c.strip() for c in line.strip('|').split('|')]
    assert all(0 <= float(c) <= 100 for c in cells[2:5]) and cells[5] == '–'  # measured AP, AP50, AP75
    assert cells[6:9] == ['30.5', '49.8', '31.7']


def test_dist_train_refuses_a_missing_checkpoint(tmp_path):
    proc = subprocess.run([
        'bash',
        osp.join(REPO_ROOT, 'tools', 'benchmarks', 'mmdetection', 'dist_train.sh'), 'any.py',
        str(tmp_path / 'missing.pth'), '1'
    ],
                          capture_output=True,
                          text=True,
                          timeout=60)
    assert proc.returncode == 2 and 'pretrained checkpoint not found' in proc.stderr


def test_run_all_orchestration(tmp_path):
    """run_all.sh without data: with nothing selected it still writes the full table of the paper's numbers;
    a selected protocol that fails (here: no checkpoint) is reported and makes the script exit 1."""
    work_root = tmp_path / 'work'
    env = dict(os.environ, WORK_ROOT=str(work_root), PYTHON=sys.executable, ONLY='^$')
    script = osp.join(REPO_ROOT, 'tools', 'benchmarks', 'run_all.sh')
    proc = subprocess.run(['bash', script, str(tmp_path / 'ckpt.pth'), '1'],
                          cwd=tmp_path,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = (work_root / 'results.md').read_text()
    assert all(f'| {p.name} |' in table for p in PROTOCOLS)
    env['ONLY'] = 'fcn_r50-frozen-d8_4xb4'
    proc = subprocess.run(['bash', script, str(tmp_path / 'ckpt.pth'), '1'],
                          cwd=tmp_path,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert '=== mmsegmentation: ' in proc.stderr and 'failed: ' in proc.stderr
    assert 'fcn_r50-frozen-d8_4xb4-20k_voc12aug-512x512.py' in proc.stderr.split('failed: ')[1]

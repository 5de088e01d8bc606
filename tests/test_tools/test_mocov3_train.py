# Copyright (c) mmlc contributors. All rights reserved.
"""The MoCo v3 demo configs (tiny ViT) train through tools/train.py and mmengine's Runner on CPU."""

import os
import os.path as osp
import subprocess
import sys

import torch

import mmlc  # noqa: F401  (allows the Runner checkpoint's mmengine types in torch.load(weights_only=True))
from conftest import CONFIG_DIR, REPO_ROOT

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
LC_CONFIG = osp.join(CONFIG_DIR, 'mocov3_lc', 'mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')
BASE_CONFIG = osp.join(CONFIG_DIR, 'mocov3_lc', 'mocov3_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')
# 4 images per step, no worker processes, a checkpoint at the end; the demo's 96 px views (6 x 6 patch tokens).
FAST = [
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2'
]


def _train(config, work_dir):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    cmd = [sys.executable, TRAIN, config, '--work-dir', str(work_dir), '--cfg-options', *FAST]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    return log, torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=True)


def test_mocov3_lc_demo_trains_two_iterations(tmp_path):
    log, ckpt = _train(LC_CONFIG, tmp_path)
    assert 'loss_global' in log and 'loss_local' in log and 'lc_valid_ratio' in log
    state = ckpt['state_dict']
    assert ckpt['meta']['iter'] == 2
    # Both EMAs took the same two steps; the local branch trained on the 6 x 6 patch map.
    assert int(state['momentum_encoder.steps']) == int(state['target_local_neck.steps']) == 2
    assert state['local_neck.conv1.weight'].shape == (192, 192, 1, 1)
    assert state['backbone.pos_embed'].shape == (1, 1 + 6 * 6, 192)


def test_plain_mocov3_demo_trains_two_iterations(tmp_path):
    log, ckpt = _train(BASE_CONFIG, tmp_path)
    assert 'loss:' in log and 'loss_local' not in log
    assert ckpt['meta']['iter'] == 2 and int(ckpt['state_dict']['momentum_encoder.steps']) == 2
    assert not any(k.startswith('local_neck.') for k in ckpt['state_dict'])

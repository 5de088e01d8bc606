# Copyright (c) mmlc contributors. All rights reserved.
"""Pretrain with mmengine's Runner (mmpretrain's ``tools/train.py`` interface).

python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
bash tools/dist_train.sh CONFIG GPUS [...]          # torchrun, --launcher pytorch
bash tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR [...]
"""

import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))  # a checkout without install

import mmlc  # noqa: E402,F401  (registers mmlc and the checkpoint allow-list before any load)
from mmlc.engine import init_cpu_process_group


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Self-supervised pretraining with mmlc')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the latest one in the work dir')
    parser.add_argument('--amp', action='store_true', help='fp16 automatic mixed precision (GPU only)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by (total batch size) / auto_scale_lr.base_batch_size')
    parser.add_argument('--no-persistent-workers', action='store_true', help='disable persistent dataloader workers')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. model.alpha=0.3 train_dataloader.batch_size=128')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command line to the config (CLI > config file > defaults)."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a GPU: mmengine\'s AmpOptimWrapper refuses CPU training')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif cfg.optim_wrapper.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        raise SystemExit(f'{args.config} trains with fp16 AMP, which needs a GPU; on CPU pass '
                         '--cfg-options optim_wrapper.type=OptimWrapper')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.no_persistent_workers and cfg.get('train_dataloader'):
        cfg.train_dataloader.persistent_workers = False
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        # A config inherited through `pkg::` tags every dict with `_scope_`; mmengine's Runner builds the collate
        # function from FUNCTIONS but passes that tag on to it as an argument (mmengine 0.10.7), so drop it.
        collate = (cfg.get(key) or {}).get('collate_fn')
        if isinstance(collate, dict):
            collate.pop('_scope_', None)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    # torchrun on a machine without CUDA: create the gloo group ourselves (mmengine would call
    # torch.cuda.set_device); the Runner then reuses it.
    init_cpu_process_group(args.launcher, timeout_s=cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800))
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()

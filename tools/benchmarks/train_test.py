# Copyright (c) mmlc contributors. All rights reserved.
"""Fine-tune a downstream config, then test the final model, in one process (or one torchrun job).

    python tools/benchmarks/train_test.py CONFIG [tools/train.py options ...]

Same command line as tools/train.py (``--work-dir``, ``--cfg-options``, ``--launcher``, ...), whose
parsing and config merging it reuses; after ``runner.train()`` it runs ``runner.test()`` on the
config's test set, so the log in the work dir ends with the test metrics that
tools/benchmarks/results_table.py reads. The mmdet/mmseg configs pick their registries through
``default_scope``; the pretrained backbone comes from ``model.backbone.init_cfg.checkpoint``.
"""

import importlib.util
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')
sys.path.insert(0, ROOT)  # a checkout without install

import mmlc  # noqa: E402,F401  (the weights_only allow-list for full Runner checkpoints)
from mmlc.engine import init_cpu_process_group


def _load_train_tool():
    """tools/train.py as a module (tools/ is not a package), for its argument parsing and merging."""
    spec = importlib.util.spec_from_file_location('mmlc_tools_train', osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> dict:
    train_tool = _load_train_tool()
    args = train_tool.parse_args(argv)
    cfg = train_tool.merge_args(Config.fromfile(args.config), args)
    init_cpu_process_group(args.launcher, timeout_s=cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800))
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    return runner.test()


if __name__ == '__main__':
    main()

# Copyright (c) mmlc contributors. All rights reserved.
import importlib.util
import os.path as osp
import sys

import pytest
import torch
from mmengine.registry import DefaultScope

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
BYOL_LC_DIR = osp.join(CONFIG_DIR, 'byol_lc')
DEMO_CONFIG = osp.join(BYOL_LC_DIR, 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py')
DDP_CONFIG = osp.join(BYOL_LC_DIR, 'byol-lc_resnet18_2xb4-coslr-300i_bundled-photos-cpu-ddp.py')

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def load_script(path: str):
    """A script under tools/ or benchmarks/ (not packages) as a module, to call its ``main(argv)`` in-process
    instead of paying a fresh interpreter's imports per call.

    ``path``: absolute or relative to the repository.
    """
    path = osp.join(REPO_ROOT, path)  # an absolute path stays as it is
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _isolated():
    """Seed each test, and undo any default registry scope it sets (mmdet/mmseg tests set theirs), so
    that a registry build in the next test does not silently look in another library's registry."""
    torch.manual_seed(0)
    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)

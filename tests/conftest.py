# Copyright (c) mmlc contributors. All rights reserved.
import os.path as osp
import sys

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
DEMO_CONFIG = osp.join(CONFIG_DIR, 'byol_lc_r18_1xb8-300i_skimage.py')
DDP_CONFIG = osp.join(CONFIG_DIR, 'byol_lc_r18_2xb4-300i_skimage_cpu-ddp.py')

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep each test on the machine's cores without oversubscription, and seeded."""
    torch.manual_seed(0)
    yield

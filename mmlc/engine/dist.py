# Copyright (c) mmlc contributors. All rights reserved.
import os
from datetime import timedelta

import torch
import torch.distributed as torch_dist


def init_cpu_process_group(launcher: str, timeout_s: int = 1800) -> bool:
    """Initialise a gloo process group for a ``pytorch``-launched run on a machine without CUDA.

    mmengine's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` first, which fails where no
    NVIDIA driver exists. When the group already exists, the Runner skips its own initialisation, so
    calling this before building the Runner makes ``torchrun`` on CPU work. Does nothing (and returns
    False) for other launchers, on machines with CUDA, or when a group already exists.

    Args:
        launcher (str): The ``--launcher`` of ``tools/train.py``.
        timeout_s (int): Collective timeout in seconds. Defaults to 1800 (mmengine's).

    Returns:
        bool: Whether a process group was created.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    torch_dist.init_process_group(
        backend='gloo',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        timeout=timedelta(seconds=timeout_s))
    return True

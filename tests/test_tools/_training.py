# Copyright (c) mmlc contributors. All rights reserved.
"""Shared by the training tests: tools/train.py and tools/dist_train.sh in a subprocess, their checkpoints."""

import os
import os.path as osp
import socket
import subprocess
import sys
from typing import Sequence

import torch

import mmlc  # noqa: F401  (lets torch.load read full mmengine checkpoints under weights_only=True)
from conftest import REPO_ROOT

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
DIST_TRAIN = osp.join(REPO_ROOT, 'tools', 'dist_train.sh')


def train_env() -> dict:
    """The environment of a training subprocess: this checkout importable, one thread, safe checkpoint loading."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_checked(cmd: Sequence[str], env: dict = None, timeout: int = 600) -> str:
    """Run ``cmd`` from the repository root; fail the test with the output's tail unless it exits with 0."""
    proc = subprocess.run(
        list(cmd), cwd=REPO_ROOT, env=env or train_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{cmd}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}'
    return proc.stdout + proc.stderr


def train(config: str, work_dir, opts: Sequence[str], *extra: str) -> str:
    """``tools/train.py CONFIG --work-dir WORK_DIR *extra --cfg-options *opts``; returns the log."""
    return run_checked([sys.executable, TRAIN, config, '--work-dir', str(work_dir), *extra, '--cfg-options', *opts])


def dist_train(config: str, work_dir, opts: Sequence[str], processes: int = 2) -> str:
    """``tools/dist_train.sh CONFIG N`` on CPU processes (gloo) at a free port; returns the log."""
    env = dict(train_env(), PORT=str(free_port()), PYTHON=sys.executable)
    cmd = ['bash', DIST_TRAIN, config, str(processes), '--work-dir', str(work_dir), '--cfg-options', *opts]
    return run_checked(cmd, env=env)


def load_iter(work_dir, it: int) -> dict:
    return torch.load(osp.join(work_dir, f'iter_{it}.pth'), weights_only=True)


def assert_same_training_state(got: dict, want: dict) -> None:
    """Two Runner checkpoints hold bit-identical weights, buffers and optimiser state."""
    assert got['state_dict'].keys() == want['state_dict'].keys()
    for key, value in want['state_dict'].items():
        assert torch.equal(got['state_dict'][key], value), key
    states = want['optimizer']['state']
    assert states and got['optimizer']['state'].keys() == states.keys()
    for index, state in states.items():
        for name, value in state.items():
            assert torch.equal(got['optimizer']['state'][index][name], value), f'{index}.{name}'

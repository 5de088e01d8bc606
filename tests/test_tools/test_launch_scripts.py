# Copyright (c) mmlc contributors. All rights reserved.
"""The launch scripts build the right command lines (SLURM cannot run here: a stand-in srun records them)."""

import os
import os.path as osp
import subprocess

from conftest import REPO_ROOT

# A stand-in srun that records its arguments and PYTHONPATH.
FAKE_SRUN = '\n'.join([
    '#!/usr/bin/env bash',
    'printf \'%s\\n\' "$@" > "$SRUN_ARGS_FILE"',
    'printf \'%s\\n\' "$PYTHONPATH" > "$SRUN_ARGS_FILE.pythonpath"',
    '',
])


def test_slurm_train_command_line(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(FAKE_SRUN)
    (bin_dir / 'srun').chmod(0o755)
    record = tmp_path / 'args.txt'
    env = dict(
        os.environ,
        PATH=f'{bin_dir}:{os.environ["PATH"]}',
        SRUN_ARGS_FILE=str(record),
        GPUS='16',
        GPUS_PER_NODE='8',
        CPUS_PER_TASK='6',
        SRUN_ARGS='--quotatype=auto',
        PYTHON='python3')
    proc = subprocess.run([
        'bash',
        osp.join(REPO_ROOT, 'tools', 'slurm_train.sh'), 'gpu-part', 'lc-400e',
        'configs/byol_lc/byol-lc_resnet50_16xb256-coslr-400e_in1k.py', 'work_dirs/lc', '--resume'
    ],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    args = record.read_text().splitlines()
    assert args == [
        '-p', 'gpu-part', '--job-name=lc-400e', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
        '--cpus-per-task=6', '--kill-on-bad-exit=1', '--quotatype=auto', 'python3', '-u',
        osp.join(REPO_ROOT, 'tools', 'train.py'), 'configs/byol_lc/byol-lc_resnet50_16xb256-coslr-400e_in1k.py',
        '--work-dir=work_dirs/lc', '--launcher=slurm', '--resume'
    ]
    assert (tmp_path / 'args.txt.pythonpath').read_text().split(':')[0].strip() == REPO_ROOT


def test_launch_scripts_print_usage():
    for script, nargs in (('slurm_train.sh', 4), ('dist_train.sh', 2)):
        proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', script)],
                              capture_output=True,
                              text=True,
                              timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith('usage:'), script

# Copyright (c) mmlc contributors. All rights reserved.
"""The lint set is OpenMMLab's, runs offline from the project's environment, and gates CI."""

import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import yaml

from conftest import REPO_ROOT

OPENMMLAB_HOOKS = {
    'flake8', 'isort', 'yapf', 'codespell', 'docformatter', 'mdformat', 'trailing-whitespace', 'end-of-file-fixer',
    'check-yaml', 'double-quote-string-fixer', 'mixed-line-ending'
}


def _read(*parts):
    with open(osp.join(REPO_ROOT, *parts)) as f:
        return f.read()


def test_every_hook_is_a_local_tool_pinned_in_the_stack():
    cfg = yaml.safe_load(_read('.pre-commit-config.yaml'))
    assert [r['repo'] for r in cfg['repos']] == ['local']  # nothing fetched from a git repository
    hooks = cfg['repos'][0]['hooks']
    assert OPENMMLAB_HOOKS <= {h['id'] for h in hooks}
    assert all(h['language'] == 'system' for h in hooks)
    stack = _read('requirements', 'stack.txt')
    pinned = {m[1].lower() for m in re.finditer(r'^([A-Za-z0-9_.-]+)==', stack, re.M)}
    providers = {
        'trailing-whitespace-fixer': 'pre-commit-hooks',
        'end-of-file-fixer': 'pre-commit-hooks',
        'check-yaml': 'pre-commit-hooks',
        'double-quote-string-fixer': 'pre-commit-hooks',
        'check-merge-conflict': 'pre-commit-hooks',
        'mixed-line-ending': 'pre-commit-hooks'
    }
    for hook in hooks:
        tool = hook['entry'].split()[0]
        assert providers.get(tool, tool) in pinned, f'{hook["id"]}: {tool} is not pinned in requirements/stack.txt'
    setup = _read('tools', 'setup_env.sh')
    for name in ('pre-commit', 'pre-commit-hooks', 'flake8', 'isort', 'yapf', 'codespell', 'docformatter', 'mdformat',
                 'mdformat-openmmlab'):
        assert f'"$(pin {name})"' in setup, f'tools/setup_env.sh does not install {name}'


def test_ci_runs_the_lint_before_the_tests_and_fails_on_it():
    steps = [line for line in _read('.ci', 'run').splitlines() if line and not line.startswith('#')]
    assert 'set -euo pipefail' in steps  # any failing step fails CI
    assert steps.index('bash tools/lint.sh') < next(i for i, s in enumerate(steps)
                                                    if s.startswith('bash tools/test.sh'))
    lint = _read('tools', 'lint.sh')
    assert 'pre-commit run' in lint and 'set -euo pipefail' in lint


def test_lint_checks_files_not_yet_added_to_git(tmp_path):
    """A new, untracked file is linted too (pre-commit's --all-files would skip it, and CI's clean clone not)."""
    for rel in ('tools/lint.sh', '.pre-commit-config.yaml', 'setup.cfg'):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(osp.join(REPO_ROOT, rel), tmp_path / rel)
    subprocess.run(['git', 'init', '-q'], cwd=tmp_path, check=True)
    subprocess.run(['git', 'add', 'tools', '.pre-commit-config.yaml', 'setup.cfg'], cwd=tmp_path, check=True)
    (tmp_path / 'new_module.py').write_text('X = 1  # ' + 'x' * 130 + '\n')  # untracked, over 120 columns
    env = dict(os.environ, MMLC_VENV=osp.dirname(osp.dirname(sys.executable)))
    proc = subprocess.run(['bash', 'tools/lint.sh', 'flake8'], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a hook id alone: pre-commit's own file selection
    proc = subprocess.run(['bash', 'tools/lint.sh'], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and 'new_module.py:1:121: E501' in proc.stdout, proc.stdout + proc.stderr

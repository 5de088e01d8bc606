# Copyright (c) mmlc contributors. All rights reserved.
"""``pip install .`` (a built, not editable, package) into a throw-away folder, then, from a folder outside the
repository: the package carries its configs, tools and model index in ``mmlc/.mim``; a config inheriting
``mmlc::...`` resolves there; ``mim train mmlc CONFIG`` trains it for two iterations with the installed copy.

The project's ``.venv`` is never installed into: pip writes only under ``--target``, and the subprocesses find the
installed copy first through ``PYTHONPATH``. Marked ``packaging`` (about a minute: three interpreters import the
stack); ``-m "not packaging"`` leaves it out.
"""

import glob
import importlib.metadata
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmlc.version import __version__
from conftest import DEMO_CONFIG, REPO_ROOT

pytestmark = pytest.mark.packaging

# What a clean checkout would not hold, or the build does not need.
NOT_COPIED = shutil.ignore_patterns('.venv', '.git', 'work_dirs', 'data', 'build', 'dist', '*.egg-info', '__pycache__',
                                    '.pytest_cache', '.mim')
DEMO_BASE = 'mmlc::' + osp.relpath(DEMO_CONFIG, osp.join(REPO_ROOT, 'configs'))


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """``{'src': copy of the repository, 'site': the --target folder mmlc was installed into}``."""
    base = tmp_path_factory.mktemp('packaging')
    src, site = base / 'src', base / 'site'
    shutil.copytree(REPO_ROOT, src, ignore=NOT_COPIED)
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation', '--no-index',
        '--no-cache-dir', '--target',
        str(site),
        str(src)
    ],
                   check=True,
                   capture_output=True,
                   text=True)
    return dict(src=src, site=site)


def test_built_package_ships_configs_tools_and_model_index(installed):
    site = installed['site']
    assert sorted(os.listdir(site)) == ['mmlc', f'mmlc-{__version__}.dist-info']  # no tests/, configs/, tools/
    mim = site / 'mmlc' / '.mim'
    expected = [
        osp.relpath(p, REPO_ROOT)
        for pattern in ('configs/**/*.py', 'configs/**/*.yml', 'tools/**/*.py', 'tools/**/*.sh')
        for p in glob.glob(osp.join(REPO_ROOT, pattern), recursive=True)
    ] + ['model-index.yml']
    for rel in expected:
        with open(osp.join(REPO_ROOT, rel), 'rb') as ours, open(mim / rel, 'rb') as shipped:
            assert ours.read() == shipped.read(), rel
    # The build copies into its build folder: the source tree gets no mmlc/.mim.
    assert not (installed['src'] / 'mmlc' / '.mim').exists()

    meta = importlib.metadata.Distribution.at(site / f'mmlc-{__version__}.dist-info').metadata
    assert meta['Version'] == __version__  # setup.cfg reads mmlc/version.py
    assert meta['Requires-Python'] == '>=3.9'
    assert {'downstream', 'demo', 'analysis', 'tests'} <= set(meta.get_all('Provides-Extra'))


def test_mmlc_base_and_mim_train_from_outside_the_repository(installed, tmp_path):
    site, elsewhere = installed['site'], tmp_path / 'elsewhere'
    elsewhere.mkdir()
    # A user's config: the demo through `mmlc::`, one change. Inherited dicts carry `_scope_='mmlc'`, which the
    # Runner would pass to the collate function as an argument; tools/train.py drops it (docs/upstream.md).
    (elsewhere / 'my_config.py').write_text(f"_base_ = '{DEMO_BASE}'\n"
                                            'model = dict(alpha=0.25)\n')
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')

    found = subprocess.run([
        sys.executable, '-c', 'import importlib.metadata as m, importlib.util as u; '
        "print(u.find_spec('mmlc').origin); print(m.version('mmlc'))"
    ],
                           cwd=elsewhere,
                           env=env,
                           check=True,
                           capture_output=True,
                           text=True).stdout.split()
    assert found == [str(site / 'mmlc' / '__init__.py'), __version__]

    mim = osp.join(osp.dirname(sys.executable), 'mim')
    assert osp.exists(mim), 'openmim is not installed: run tools/setup_env.sh'
    work = tmp_path / 'work'
    run = subprocess.run([
        mim, 'train', 'mmlc', 'my_config.py', '--work-dir',
        str(work), '--cfg-options', 'train_cfg.max_iters=2', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False', 'custom_hooks=[]',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1'
    ],
                         cwd=elsewhere,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert str(site / 'mmlc' / '.mim' / 'tools' / 'train.py') in run.stdout  # mim ran the installed train.py
    assert (work / 'iter_2.pth').exists()
    logs = glob.glob(str(work / '*' / '*.log'))
    assert logs and 'Iter(train) [2/2]' in open(logs[0]).read()
    # The Runner's dump of the merged config: the demo's model from the installed package, the user's change.
    cfg = Config.fromfile(str(work / 'my_config.py'))
    assert (cfg.model.type, cfg.model.alpha, cfg.model.backbone.depth, cfg.size) == ('BYOLLocalContrast', 0.25, 18, 192)

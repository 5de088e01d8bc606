# Copyright (c) mmlc contributors. All rights reserved.
"""Packaging: the metadata lives in setup.cfg; this file only ships ``mmlc/.mim`` in built packages.

OpenMMLab packages carry their configs, tools and model index inside the installed package, under
``<package>/.mim``: mmengine resolves ``_base_ = 'mmlc::byol_lc/....py'`` to
``<installed mmlc>/.mim/configs/byol_lc/....py`` (after checking ``.mim/model-index.yml``), and
``mim train mmlc CONFIG`` runs ``<installed mmlc>/.mim/tools/train.py``. mmpretrain's setup.py copies the
folders into its source tree before building; here they are copied into the build directory instead, so the
checkout stays clean. Editable installs get no ``.mim`` (see docs/upstream.md: mmengine 0.10.7 cannot find
the configs of a PEP 660 editable install anyway).
"""
import os
import os.path as osp
import shutil
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
# Repository paths copied to mmlc/.mim/<same path> in a built package.
MIM_PATHS = ('configs', 'tools', 'model-index.yml')


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_PATHS` into ``<build_lib>/mmlc/.mim``."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        mim_dir = osp.join(self.build_lib, 'mmlc', '.mim')
        for rel in MIM_PATHS:
            src, dst = osp.join(ROOT, rel), osp.join(mim_dir, rel)
            if not osp.exists(src):
                raise FileNotFoundError(f'{src} is missing: a built mmlc package ships it in mmlc/.mim')
            if osp.isdir(src):
                shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                os.makedirs(osp.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst)


if __name__ == '__main__':
    setup(cmdclass={'build_py': BuildPyWithMim})

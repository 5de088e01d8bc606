# Copyright (c) mmlc contributors. All rights reserved.
"""mmlc: BYOL + local contrastive loss pretraining, registered into mmpretrain's registries.

Importing the package (``custom_imports = dict(imports=['mmlc'])`` in a config) registers the models,
transforms, datasets and model wrapper (into MMSelfSup 1.0.0's registries as well where it is installed, see
:mod:`mmlc.mmselfsup`), declares the ``mmlc`` registry scope that ``mmlc::`` config inheritance
needs (``mmlc.registry``), and lets ``torch.load`` read full mmengine checkpoints under
``weights_only=True``.
"""
import importlib.util
import warnings

from . import datasets, engine, models, registry  # noqa: F401  (registers the components; the mmlc:: scope)
from .engine import register_checkpoint_safe_globals
from .version import __version__, version_info

register_checkpoint_safe_globals()

# MMSelfSup 1.0.0, where installed: the same components in its registries too (mmlc.mmselfsup, docs/mmselfsup.md).
if importlib.util.find_spec('mmselfsup') is not None:
    try:
        from . import mmselfsup  # noqa: F401
    except (ImportError, AssertionError) as err:  # e.g. MMSelfSup's own mmcv < 2.1 assertion
        warnings.warn(f'mmselfsup is installed but does not import ({err}); mmlc registers into mmpretrain only')

__all__ = ['__version__', 'datasets', 'engine', 'models', 'registry', 'version_info']

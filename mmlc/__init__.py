# Copyright (c) mmlc contributors. All rights reserved.
"""mmlc: BYOL + local contrastive loss pretraining, registered into mmpretrain's registries.

Importing the package (``custom_imports = dict(imports=['mmlc'])`` in a config) registers the models,
transforms, datasets and model wrapper, declares the ``mmlc`` registry scope that ``mmlc::`` config inheritance
needs (``mmlc.registry``), and lets ``torch.load`` read full mmengine checkpoints under
``weights_only=True``.
"""
from . import datasets, engine, models, registry  # noqa: F401  (registers the components; the mmlc:: scope)
from .engine import register_checkpoint_safe_globals
from .version import __version__, version_info

register_checkpoint_safe_globals()

__all__ = ['__version__', 'datasets', 'engine', 'models', 'registry', 'version_info']

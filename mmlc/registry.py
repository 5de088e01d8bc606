# Copyright (c) mmlc contributors. All rights reserved.
"""The ``mmlc`` registry scope, so that configs can inherit ``mmlc::...`` bases.

mmlc registers its components into mmpretrain's registries (``mmpretrain.registry``); nothing is registered
here. What mmengine 0.10.7 needs for ``_base_ = 'mmlc::byol_lc/....py'`` is two things:

1. ``'mmlc'`` in ``mmengine.config.utils.MODULE2PACKAGE``, the table of packages whose installed configs
   ``pkg::`` may name (``_get_package_and_cfg_path`` asserts membership). :func:`register_mmlc_package` adds
   it when mmlc is imported. Config files cannot do this themselves: ``_base_`` is resolved before
   ``custom_imports`` runs, so the script that loads the config must have imported mmlc (``tools/train.py``,
   and ``mim train mmlc``, which runs it, do).
2. A registry scope named ``mmlc``: mmengine tags every dict inherited through ``mmlc::`` with
   ``_scope_='mmlc'`` and, when building it, switches the default scope to ``mmlc`` and looks for a registry of
   that scope in the tree (after importing ``mmlc.registry``, this module). The child registries below are
   that scope; a lookup in them falls through to their parents, mmpretrain's registries, where the components
   are. Without them mmengine warns and builds with whichever registry it was called on, which for the
   Runner's datasets, hooks and loops is mmengine's root, where mmpretrain's and mmlc's names are unknown.
"""
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import Registry
from mmpretrain.registry import BATCH_AUGMENTS as MMPRETRAIN_BATCH_AUGMENTS
from mmpretrain.registry import DATA_SAMPLERS as MMPRETRAIN_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import EVALUATORS as MMPRETRAIN_EVALUATORS
from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRETRAIN_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRETRAIN_LOOPS
from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRETRAIN_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRETRAIN_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRETRAIN_PARAM_SCHEDULERS
from mmpretrain.registry import RUNNER_CONSTRUCTORS as MMPRETRAIN_RUNNER_CONSTRUCTORS
from mmpretrain.registry import RUNNERS as MMPRETRAIN_RUNNERS
from mmpretrain.registry import TASK_UTILS as MMPRETRAIN_TASK_UTILS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRETRAIN_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRETRAIN_VISUALIZERS
from mmpretrain.registry import WEIGHT_INITIALIZERS as MMPRETRAIN_WEIGHT_INITIALIZERS

SCOPE = 'mmlc'


def register_mmlc_package() -> None:
    """Let mmengine's ``pkg::`` config inheritance resolve ``mmlc::`` (module ``mmlc``, distribution ``mmlc``)."""
    MODULE2PACKAGE.setdefault(SCOPE, 'mmlc')


def _child(parent: Registry, location: str) -> Registry:
    """An empty registry of scope ``mmlc`` under ``parent``; lookups fall through to ``parent``."""
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=[location])


RUNNERS = _child(MMPRETRAIN_RUNNERS, 'mmlc.engine')
RUNNER_CONSTRUCTORS = _child(MMPRETRAIN_RUNNER_CONSTRUCTORS, 'mmlc.engine')
LOOPS = _child(MMPRETRAIN_LOOPS, 'mmlc.engine')
HOOKS = _child(MMPRETRAIN_HOOKS, 'mmlc.engine')
LOG_PROCESSORS = _child(MMPRETRAIN_LOG_PROCESSORS, 'mmlc.engine')
OPTIMIZERS = _child(MMPRETRAIN_OPTIMIZERS, 'mmlc.engine')
OPTIM_WRAPPERS = _child(MMPRETRAIN_OPTIM_WRAPPERS, 'mmlc.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS, 'mmlc.engine')
PARAM_SCHEDULERS = _child(MMPRETRAIN_PARAM_SCHEDULERS, 'mmlc.engine')
DATASETS = _child(MMPRETRAIN_DATASETS, 'mmlc.datasets')
DATA_SAMPLERS = _child(MMPRETRAIN_DATA_SAMPLERS, 'mmlc.datasets')
TRANSFORMS = _child(MMPRETRAIN_TRANSFORMS, 'mmlc.datasets')
MODELS = _child(MMPRETRAIN_MODELS, 'mmlc.models')
MODEL_WRAPPERS = _child(MMPRETRAIN_MODEL_WRAPPERS, 'mmlc.engine')
WEIGHT_INITIALIZERS = _child(MMPRETRAIN_WEIGHT_INITIALIZERS, 'mmlc.models')
BATCH_AUGMENTS = _child(MMPRETRAIN_BATCH_AUGMENTS, 'mmlc.models')
TASK_UTILS = _child(MMPRETRAIN_TASK_UTILS, 'mmlc.models')
METRICS = _child(MMPRETRAIN_METRICS, 'mmlc.engine')
EVALUATORS = _child(MMPRETRAIN_EVALUATORS, 'mmlc.engine')
VISUALIZERS = _child(MMPRETRAIN_VISUALIZERS, 'mmlc.engine')
VISBACKENDS = _child(MMPRETRAIN_VISBACKENDS, 'mmlc.engine')

register_mmlc_package()

__all__ = [
    'BATCH_AUGMENTS', 'DATASETS', 'DATA_SAMPLERS', 'EVALUATORS', 'HOOKS', 'LOG_PROCESSORS', 'LOOPS', 'METRICS',
    'MODELS', 'MODEL_WRAPPERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'SCOPE', 'TASK_UTILS', 'TRANSFORMS', 'VISBACKENDS', 'VISUALIZERS',
    'WEIGHT_INITIALIZERS', 'register_mmlc_package'
]

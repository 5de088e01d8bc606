# Copyright (c) mmlc contributors. All rights reserved.
"""mmlc's shared components in MMSelfSup's registries, and the two fixes MMSelfSup 1.0.0 needs next to mmpretrain
1.2.0 on mmengine 0.10.7."""

import importlib
import importlib.util
from typing import Dict, List, Tuple

from mmengine.registry import Registry
from mmselfsup import registry as mmselfsup_registry

from ..datasets import BundledPhotos, LoadImageOrSkip, PairedCorrespondenceTransform
from ..engine import CorrespondenceAccuracyHook
from ..models import LCLossHead, LocalProjectionNeck, TokenLocalProjectionNeck

#: mmselfsup registry name -> the mmlc classes registered there, the same class objects as in mmpretrain's.
SHARED_COMPONENTS: Dict[str, Tuple[type, ...]] = {
    'MODELS': (LocalProjectionNeck, TokenLocalProjectionNeck, LCLossHead),
    'TRANSFORMS': (PairedCorrespondenceTransform, LoadImageOrSkip),
    'DATASETS': (BundledPhotos, ),
    'HOOKS': (CorrespondenceAccuracyHook, ),
}


def register_shared_components() -> None:
    """Register :data:`SHARED_COMPONENTS` into ``mmselfsup.registry`` (idempotent: ``force`` re-registers)."""
    for registry_name, classes in SHARED_COMPONENTS.items():
        registry: Registry = getattr(mmselfsup_registry, registry_name)
        for cls in classes:
            registry.register_module(module=cls, force=True)


def drop_missing_registry_locations() -> List[str]:
    """Drop the module locations of MMSelfSup's registries that its installed package does not have.

    MMSelfSup 1.0.0 declares ``RUNNERS``, ``RUNNER_CONSTRUCTORS`` and ``LOOPS`` with
    ``locations=['mmselfsup.engine.runner']``, a module its wheel lacks (upstream issue #745). mmengine 0.10.7
    imports a registry's locations the first time it builds from it, so every config whose ``train_cfg`` names a
    loop ``type`` (all of MMSelfSup's own) fails with ``ModuleNotFoundError: No module named
    'mmselfsup.engine.runner'``. Those registries hold nothing of MMSelfSup's own (the loops and runners come from
    mmengine, their parents), so dropping the dead location changes no lookup. A location that exists is kept.

    Returns:
        list[str]: ``'<REGISTRY>: <location>'`` for each location dropped.
    """
    dropped = []
    for name in dir(mmselfsup_registry):
        registry = getattr(mmselfsup_registry, name)
        if not isinstance(registry, Registry):
            continue
        kept = []
        for location in registry._locations:  # mmengine keeps them in this attribute only; no public setter
            if _module_exists(location):
                kept.append(location)
            else:
                dropped.append(f'{name}: {location}')
        registry._locations = kept
    return dropped


def _module_exists(name: str) -> bool:
    """Whether ``import name`` can find the module (its parent packages are imported to look)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


#: mmdet model names that both ``mmpretrain.models`` and ``mmselfsup.models`` register into mmdet's ``MODELS``.
CLASHING_MMDET_MODELS = ('ResLayerExtraNorm', )


def import_mmselfsup_models() -> None:
    """Import ``mmselfsup.models`` in a process that has imported ``mmpretrain.models``.

    Both register a class ``ResLayerExtraNorm`` (the same code: mmpretrain's is MMSelfSup's, moved) into mmdet's
    ``MODELS`` when mmdet is installed, so the second import fails with ``KeyError: 'ResLayerExtraNorm is already
    registered in model at mmpretrain.models.utils.res_layer_extra_norm'``. The clashing names are taken out of
    mmdet's registry while MMSelfSup registers its copies, and mmpretrain's classes are put back afterwards, so
    mmdet configs resolve to the same class as without this import.
    """
    try:
        from mmdet.registry import MODELS as MMDET_MODELS
    except ImportError:  # pragma: no cover - mmdet is part of the pinned stack
        importlib.import_module('mmselfsup.models')
        return
    held = {
        name: MMDET_MODELS._module_dict.pop(name)
        for name in CLASHING_MMDET_MODELS if name in MMDET_MODELS._module_dict
    }  # mmengine has no public unregister
    try:
        importlib.import_module('mmselfsup.models')
    finally:
        MMDET_MODELS._module_dict.update(held)

# Copyright (c) mmlc contributors. All rights reserved.
"""mmlc in MMSelfSup 1.0.0: the same components registered into ``mmselfsup.registry``.

Import it from a config whose default scope is ``mmselfsup`` (``configs/mmselfsup/``)::

    custom_imports = dict(imports=['mmlc.mmselfsup'], allow_failed_imports=False)

What it does on import:

- registers :class:`BYOLLocalContrast` (MMSelfSup's ``BYOL`` plus the host-independent
  :class:`~mmlc.models.selfsup.byol_lc.BYOLLocalContrastMixin`), and the shared ``LocalProjectionNeck``,
  ``TokenLocalProjectionNeck``, ``LCLossHead``, ``PairedCorrespondenceTransform``, ``LoadImageOrSkip``,
  ``BundledPhotos`` and ``CorrespondenceAccuracyHook`` (the very classes mmpretrain's registry holds: no copies);
- makes MMSelfSup's loop and runner registries usable on mmengine 0.10.7 (upstream issue #745, see
  :func:`drop_missing_registry_locations`), and lets ``mmselfsup.models`` be imported next to
  ``mmpretrain.models`` (:func:`import_mmselfsup_models`), without touching the installed packages.

mmlc needs mmpretrain in either host: its transforms compose mmpretrain's colour transforms, and its
components import mmpretrain's registries. ``bash tools/setup_env.sh`` installs both hosts in one environment.
"""
try:
    import mmselfsup  # noqa: F401  (asserts its mmcv range: >= 2.0.0rc4, < 2.1.0)
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError('mmlc.mmselfsup registers mmlc into MMSelfSup 1.0.0, which is not importable here '
                      f'({err}); `bash tools/setup_env.sh` installs it next to mmpretrain') from err

from .registry import (SHARED_COMPONENTS, drop_missing_registry_locations, import_mmselfsup_models,
                       register_shared_components)

# Before anything imports mmselfsup.models, which clashes with mmpretrain.models in mmdet's registry.
import_mmselfsup_models()

from .byol_lc import BYOLLocalContrast  # noqa: E402

#: What :func:`drop_missing_registry_locations` dropped when this module was imported ('REGISTRY: location').
DROPPED_LOCATIONS = drop_missing_registry_locations()
register_shared_components()

__all__ = [
    'BYOLLocalContrast', 'DROPPED_LOCATIONS', 'SHARED_COMPONENTS', 'drop_missing_registry_locations',
    'import_mmselfsup_models', 'register_shared_components'
]

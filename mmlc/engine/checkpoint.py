# Copyright (c) mmlc contributors. All rights reserved.
"""Let torch >= 2.6's ``weights_only`` loader read full mmengine checkpoints, and nothing more.

mmengine 0.10.7 calls ``torch.load(path, map_location=...)`` without ``weights_only``; since torch 2.6
that means ``weights_only=True``, and a Runner checkpoint then fails on the few non-tensor objects
mmengine stores in ``meta``/``message_hub`` (``HistoryBuffer`` and the numpy arrays and scalars it
holds). Rather than turning the safety off for every file (``weights_only=False`` or
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), we allow-list exactly those data-only types.

One more object stands in the way: ``HistoryBuffer.__getstate__`` also pickles its class-level registry
of statistics *functions*, which pickle as ``builtins.getattr(HistoryBuffer, 'min')``. Allow-listing
``getattr`` would re-open arbitrary code execution, so instead checkpoints written after ``import mmlc``
leave those functions out; ``HistoryBuffer.__setstate__`` restores them from the class registry, where
every method (built-in or registered with ``HistoryBuffer.register_statistics``) lives anyway.
Checkpoints written by plain mmengine still hold ``getattr`` and are refused by ``weights_only``;
:func:`sanitize_checkpoint` rewrites one you trust.
"""

from typing import List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# The numeric dtypes a logged scalar or buffer can have.
_NUMPY_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.float16,
                 np.float32, np.float64)


def _numpy_reconstructors() -> List[object]:
    """numpy's array/scalar pickling entry points, under numpy 2's and numpy 1's module names."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    return [_reconstruct, scalar]


def mmengine_checkpoint_safe_globals() -> List[object]:
    """The globals a full mmengine Runner checkpoint pickles besides tensors and builtins.

    Returns:
        list: ``HistoryBuffer``, ``np.ndarray``, ``np.dtype``, numpy's reconstructors and the dtype
        classes of numeric numpy scalars.
    """
    dtype_classes = [type(np.dtype(t)) for t in _NUMPY_DTYPES]
    return [HistoryBuffer, np.ndarray, np.dtype, *_numpy_reconstructors(), *dtype_classes]


#: mmengine's own ``HistoryBuffer.__getstate__``, kept for reference and tests.
MMENGINE_HISTORY_BUFFER_GETSTATE = HistoryBuffer.__dict__['__getstate__']


def _history_buffer_state(self: HistoryBuffer) -> dict:
    """``HistoryBuffer.__getstate__`` without the statistics functions (see the module docstring)."""
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def register_checkpoint_safe_globals() -> None:
    """Add :func:`mmengine_checkpoint_safe_globals` to torch's ``weights_only`` allow-list.

    Also makes ``HistoryBuffer`` pickle without functions. Idempotent; called when :mod:`mmlc` is
    imported (configs do that via ``custom_imports``), so ``resume`` and
    ``init_cfg=dict(type='Pretrained', ...)`` work on full Runner checkpoints.
    """
    HistoryBuffer.__getstate__ = _history_buffer_state
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 has no weights_only default to satisfy
        return
    known = set(map(id, torch.serialization.get_safe_globals()))
    add([g for g in mmengine_checkpoint_safe_globals() if id(g) not in known])


def sanitize_checkpoint(src: str, dst: str) -> None:
    """Rewrite a full checkpoint written by plain mmengine so that ``weights_only`` loading accepts it.

    This unpickles ``src`` with ``weights_only=False``, which can run arbitrary code: call it only on a
    file you trust (one you trained yourself). The copy at ``dst`` holds the same content minus the
    pickled statistics functions.

    Args:
        src (str): Trusted checkpoint path.
        dst (str): Output path.
    """
    register_checkpoint_safe_globals()
    checkpoint = torch.load(src, map_location='cpu', weights_only=False)  # trusted by the caller
    torch.save(checkpoint, dst)

# Copyright (c) mmlc contributors. All rights reserved.
"""Full mmengine checkpoints load under weights_only=True after `import mmlc`, and nothing else does."""

import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmlc  # noqa: F401
from mmlc.engine import mmengine_checkpoint_safe_globals


class NotAllowed:

    def __init__(self):
        self.x = 1


def test_message_hub_state_round_trips_with_weights_only(tmp_path):
    hub = MessageHub('ckpt-test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/lr', np.float32(0.1))
    hub.update_scalar('train/iter', np.int64(3))
    hub.update_info('max_iters', 300)
    ckpt = dict(meta=dict(iter=3, seed=np.int64(7)), message_hub=hub.state_dict(), state_dict=dict(w=torch.ones(2)))
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.current() == 1.5
    assert loaded['message_hub']['log_scalars']['train/iter'].current() == 3
    assert loaded['meta']['seed'] == 7


def test_other_globals_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(obj=NotAllowed()), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_allow_list_is_data_only():
    names = {getattr(g, '__name__', str(g)) for g in mmengine_checkpoint_safe_globals()}
    assert 'HistoryBuffer' in names and 'ndarray' in names and '_reconstruct' in names
    # No callables that run arbitrary code (eval, exec, os.system, builtins.getattr ...).
    assert not names & {'eval', 'exec', 'system', 'getattr', 'apply', '__import__'}


def test_history_buffer_keeps_its_statistics_after_a_weights_only_load(tmp_path):
    buf = HistoryBuffer()
    for v in (1.0, 2.0, 6.0):
        buf.update(v)
    path = tmp_path / 'hb.pth'
    torch.save(dict(buf=buf), path)
    # Nothing outside torch's defaults and mmlc's allow-list; in particular no builtins.getattr.
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
    loaded = torch.load(path, weights_only=True)['buf']
    assert loaded.mean() == 3.0 and loaded.max() == 6.0 and loaded.statistics('min') == 1.0


def test_sanitize_a_plain_mmengine_checkpoint(tmp_path):
    from mmlc.engine import sanitize_checkpoint
    from mmlc.engine.checkpoint import MMENGINE_HISTORY_BUFFER_GETSTATE, _history_buffer_state
    buf = HistoryBuffer()
    buf.update(4.0)
    plain = tmp_path / 'plain.pth'
    try:  # write the file as mmengine without mmlc does: statistics functions pickled through getattr
        HistoryBuffer.__getstate__ = MMENGINE_HISTORY_BUFFER_GETSTATE
        torch.save(dict(buf=buf), plain)
    finally:
        HistoryBuffer.__getstate__ = _history_buffer_state
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        torch.load(plain, weights_only=True)
    sanitize_checkpoint(str(plain), str(tmp_path / 'clean.pth'))
    assert torch.load(tmp_path / 'clean.pth', weights_only=True)['buf'].current() == 4.0

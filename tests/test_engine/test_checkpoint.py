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
    ckpt = dict(meta=dict(iter=3, seed=np.int64(7)), message_hub=hub.state_dict(),
                state_dict=dict(w=torch.ones(2)))
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

# Copyright (c) mmlc contributors. All rights reserved.
from .checkpoint import mmengine_checkpoint_safe_globals, register_checkpoint_safe_globals, sanitize_checkpoint
from .dist import init_cpu_process_group
from .hooks import CorrespondenceAccuracyHook, DINOFreezeLastLayerHook, DINOGradClipHook, DINOTeacherTempHook
from .model_wrappers import DeviceAgnosticDDP

__all__ = [
    'CorrespondenceAccuracyHook', 'DINOFreezeLastLayerHook', 'DINOGradClipHook', 'DINOTeacherTempHook',
    'DeviceAgnosticDDP', 'init_cpu_process_group', 'mmengine_checkpoint_safe_globals',
    'register_checkpoint_safe_globals', 'sanitize_checkpoint'
]

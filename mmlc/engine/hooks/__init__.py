# Copyright (c) mmlc contributors. All rights reserved.
from .correspondence_accuracy_hook import CorrespondenceAccuracyHook
from .dino_freeze_last_layer_hook import DINOFreezeLastLayerHook
from .dino_grad_clip_hook import DINOGradClipHook, clip_grad_per_param_
from .dino_teacher_temp_hook import DINOTeacherTempHook, teacher_temp_schedule

__all__ = [
    'CorrespondenceAccuracyHook', 'DINOFreezeLastLayerHook', 'DINOGradClipHook', 'DINOTeacherTempHook',
    'clip_grad_per_param_', 'teacher_temp_schedule'
]

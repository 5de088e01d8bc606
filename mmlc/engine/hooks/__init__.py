# Copyright (c) mmlc contributors. All rights reserved.
from .correspondence_accuracy_hook import HELD_OUT_SKIMAGE, CorrespondenceAccuracyHook

__all__ = ['CorrespondenceAccuracyHook', 'HELD_OUT_SKIMAGE']

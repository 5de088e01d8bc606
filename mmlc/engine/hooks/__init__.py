# Copyright (c) mmlc contributors. All rights reserved.
from .correspondence_accuracy_hook import CorrespondenceAccuracyHook

__all__ = ['CorrespondenceAccuracyHook']

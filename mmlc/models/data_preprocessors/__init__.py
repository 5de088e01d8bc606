# Copyright (c) mmlc contributors. All rights reserved.
from .colour_aug_preprocessor import ColourAugDataPreprocessor
from .colour_pipeline import SUPPORTED_TRANSFORMS, BatchedColourPipeline, colour_step

__all__ = ['BatchedColourPipeline', 'ColourAugDataPreprocessor', 'SUPPORTED_TRANSFORMS', 'colour_step']

# Copyright (c) mmlc contributors. All rights reserved.
from .colour import FastColorJitter, FastGaussianBlur
from .loading import LoadImageOrSkip
from .paired_correspondence import (BYOL_VIEW1_COLOUR, BYOL_VIEW1_SOLARIZE_COLOUR, BYOL_VIEW2_COLOUR, COLOUR_PRESETS,
                                    PairedCorrespondenceTransform, as_three_channel_uint8, build_colour_pipeline,
                                    colour_config, with_fast_colour)
from .paired_multi_crop import PairedMultiCrop

__all__ = [
    'BYOL_VIEW1_COLOUR', 'BYOL_VIEW1_SOLARIZE_COLOUR', 'BYOL_VIEW2_COLOUR', 'COLOUR_PRESETS', 'FastColorJitter',
    'FastGaussianBlur', 'LoadImageOrSkip', 'PairedCorrespondenceTransform', 'PairedMultiCrop', 'as_three_channel_uint8',
    'build_colour_pipeline', 'colour_config', 'with_fast_colour'
]

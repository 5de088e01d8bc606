# Copyright (c) mmlc contributors. All rights reserved.
from .skimage_photos import SKIMAGE_PHOTOS, SkimagePhotos, skimage_data_dir
from .transforms import (BYOL_VIEW1_COLOUR, BYOL_VIEW2_COLOUR, LoadImageOrSkip, PairedCorrespondenceTransform,
                         as_three_channel_uint8)

__all__ = [
    'BYOL_VIEW1_COLOUR', 'BYOL_VIEW2_COLOUR', 'LoadImageOrSkip', 'PairedCorrespondenceTransform', 'SKIMAGE_PHOTOS',
    'SkimagePhotos', 'as_three_channel_uint8', 'skimage_data_dir'
]

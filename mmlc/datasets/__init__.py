# Copyright (c) mmlc contributors. All rights reserved.
from .bundled_photos import (BUNDLED_PHOTOS, DEMO_HELD_OUT_PHOTOS, DEMO_TRAIN_PHOTOS, BundledPhotos, bundled_photo_path,
                             skimage_data_dir)
from .transforms import (BYOL_VIEW1_COLOUR, BYOL_VIEW2_COLOUR, FastColorJitter, FastGaussianBlur, LoadImageOrSkip,
                         PairedCorrespondenceTransform, PairedMultiCrop, as_three_channel_uint8)

__all__ = [
    'BUNDLED_PHOTOS', 'BYOL_VIEW1_COLOUR', 'BYOL_VIEW2_COLOUR', 'BundledPhotos', 'DEMO_HELD_OUT_PHOTOS',
    'DEMO_TRAIN_PHOTOS', 'FastColorJitter', 'FastGaussianBlur', 'LoadImageOrSkip', 'PairedCorrespondenceTransform',
    'PairedMultiCrop', 'as_three_channel_uint8', 'bundled_photo_path', 'skimage_data_dir'
]

# Copyright (c) mmlc contributors. All rights reserved.
from .data_preprocessors import ColourAugDataPreprocessor
from .heads import DINOHead, LCLossHead
from .losses import local_contrastive_loss, local_mse_loss
from .necks import DINONeck, LocalProjectionNeck, TokenLocalProjectionNeck
from .selfsup import DINO, BYOLLocalContrast, DINOLocalContrast, LocalBranch, MoCoV3LocalContrast
from .utils import (cell_centres, correspondence_grid, effective_rank, embedding_std, inverse_correspondence_grid,
                    patch_grid_size, patch_tokens_to_map)

__all__ = [
    'BYOLLocalContrast', 'ColourAugDataPreprocessor', 'DINO', 'DINOHead', 'DINOLocalContrast', 'DINONeck', 'LCLossHead',
    'LocalBranch', 'LocalProjectionNeck', 'MoCoV3LocalContrast', 'TokenLocalProjectionNeck', 'cell_centres',
    'correspondence_grid', 'effective_rank', 'embedding_std', 'inverse_correspondence_grid', 'local_contrastive_loss',
    'local_mse_loss', 'patch_grid_size', 'patch_tokens_to_map'
]

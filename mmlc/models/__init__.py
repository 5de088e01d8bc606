# Copyright (c) mmlc contributors. All rights reserved.
from .heads import LCLossHead
from .losses import local_contrastive_loss, local_mse_loss
from .necks import LocalProjectionNeck
from .selfsup import BYOLLocalContrast
from .utils import cell_centres, correspondence_grid, effective_rank, embedding_std, inverse_correspondence_grid

__all__ = [
    'BYOLLocalContrast', 'LCLossHead', 'LocalProjectionNeck', 'cell_centres', 'correspondence_grid',
    'effective_rank', 'embedding_std', 'inverse_correspondence_grid', 'local_contrastive_loss', 'local_mse_loss'
]

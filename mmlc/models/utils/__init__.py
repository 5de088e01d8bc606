# Copyright (c) mmlc contributors. All rights reserved.
from .correspondence import cell_centres, correspondence_grid, inverse_correspondence_grid
from .diagnostics import effective_rank, embedding_std
from .tokens import patch_grid_size, patch_tokens_to_map, square_patch_grid

__all__ = [
    'cell_centres', 'correspondence_grid', 'effective_rank', 'embedding_std', 'inverse_correspondence_grid',
    'patch_grid_size', 'patch_tokens_to_map', 'square_patch_grid'
]

# Copyright (c) mmlc contributors. All rights reserved.
from .correspondence import cell_centres, correspondence_grid, inverse_correspondence_grid
from .diagnostics import effective_rank, embedding_std

__all__ = ['cell_centres', 'correspondence_grid', 'effective_rank', 'embedding_std', 'inverse_correspondence_grid']

# Copyright (c) mmlc contributors. All rights reserved.
from .correspondence import cell_centres, correspondence_grid, inverse_correspondence_grid

__all__ = ['cell_centres', 'correspondence_grid', 'inverse_correspondence_grid']

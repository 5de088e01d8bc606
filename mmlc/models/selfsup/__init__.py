# Copyright (c) mmlc contributors. All rights reserved.
from .byol_lc import BYOLLocalContrast

__all__ = ['BYOLLocalContrast']

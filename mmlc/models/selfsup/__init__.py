# Copyright (c) mmlc contributors. All rights reserved.
from .byol_lc import BYOLLocalContrast
from .dino import DINO
from .dino_lc import DINOLocalContrast
from .local_branch import LocalBranch
from .mocov3_lc import MoCoV3LocalContrast

__all__ = ['BYOLLocalContrast', 'DINO', 'DINOLocalContrast', 'LocalBranch', 'MoCoV3LocalContrast']

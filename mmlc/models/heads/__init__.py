# Copyright (c) mmlc contributors. All rights reserved.
from .dino_head import DINOHead
from .lc_loss_head import LCLossHead

__all__ = ['DINOHead', 'LCLossHead']

# Copyright (c) mmlc contributors. All rights reserved.
from .lc_loss_head import LCLossHead

__all__ = ['LCLossHead']

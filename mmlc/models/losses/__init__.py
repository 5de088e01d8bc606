# Copyright (c) mmlc contributors. All rights reserved.
from .local_losses import LC_IMPLS, check_lc_options, local_contrastive_loss, local_mse_loss

__all__ = ['LC_IMPLS', 'check_lc_options', 'local_contrastive_loss', 'local_mse_loss']

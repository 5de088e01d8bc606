# Copyright (c) mmlc contributors. All rights reserved.
from .local_contrastive_loss import local_contrastive_loss, local_mse_loss

__all__ = ['local_contrastive_loss', 'local_mse_loss']

# Copyright (c) mmlc contributors. All rights reserved.
from .dino_loss import dino_center_update, dino_cross_entropy, dino_teacher_probs
from .local_losses import LC_IMPLS, check_lc_options, local_contrastive_loss, local_mse_loss

__all__ = [
    'LC_IMPLS', 'check_lc_options', 'dino_center_update', 'dino_cross_entropy', 'dino_teacher_probs',
    'local_contrastive_loss', 'local_mse_loss'
]

# Copyright (c) mmlc contributors. All rights reserved.
from .dino_neck import DINONeck
from .local_projection_neck import LocalProjectionNeck
from .token_local_projection_neck import TokenLocalProjectionNeck

__all__ = ['DINONeck', 'LocalProjectionNeck', 'TokenLocalProjectionNeck']

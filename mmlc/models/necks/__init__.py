# Copyright (c) mmlc contributors. All rights reserved.
from .local_projection_neck import LocalProjectionNeck

__all__ = ['LocalProjectionNeck']

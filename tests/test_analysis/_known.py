# Copyright (c) mmlc contributors. All rights reserved.
"""Backbones whose features are known in advance, and synthetic images, for the analysis tests."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


def position_image(height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 BGR image whose colour encodes position: red = x, green = y, blue = 128.

    Red and green are linear in the pixel centre, so the mean over any axis-aligned cell equals the value
    at the cell centre: an image-reading feature then encodes the cell's position.
    """
    xs = (np.arange(width) + 0.5) / width * 255
    ys = (np.arange(height) + 0.5) / height * 255
    red = np.broadcast_to(xs[None, :], (height, width))
    green = np.broadcast_to(ys[:, None], (height, width))
    blue = np.full((height, width), 128.)
    return np.round(np.stack([blue, green, red], axis=-1)).astype(np.uint8)  # BGR


@MODELS.register_module(force=True)
class PositionRBFBackbone(nn.Module):
    """Reads position out of :func:`position_image`: average-pool to a stride-``stride`` grid, then embed
    each cell's (red, green) in Gaussian bumps on a lattice of anchors, so cosine similarity falls with the
    distance between the cells' colours, i.e. between their positions.

    Expects inputs scaled to [0, 1] in RGB order (``mean=0, std=255, to_rgb=True``). The anchors are a
    buffer, so they travel in the checkpoint under ``backbone.anchors``.
    """

    def __init__(self, stride: int = 16, spacing: float = 0.04, sigma: float = 0.04) -> None:
        super().__init__()
        self.stride = stride
        self.sigma = sigma
        axis = torch.arange(-0.2, 1.2 + 1e-6, spacing)
        gy, gx = torch.meshgrid(axis, axis, indexing='ij')
        self.register_buffer('anchors', torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1))  # (K, 2)

    def forward(self, x: torch.Tensor):
        cells = F.avg_pool2d(x[:, :2], self.stride)  # (B, 2, h, w): red, green
        b, _, h, w = cells.shape
        pts = cells.permute(0, 2, 3, 1).reshape(b, h * w, 1, 2)  # (B, hw, 1, 2)
        d2 = ((pts - self.anchors[None, None])**2).sum(-1)  # (B, hw, K)
        feat = torch.exp(-d2 / (2 * self.sigma**2))  # (B, hw, K)
        return (feat.permute(0, 2, 1).reshape(b, -1, h, w), )  # (B, K, h, w)


@MODELS.register_module(force=True)
class ConstantBackbone(nn.Module):
    """Every cell of every image gets the same feature vector (a learnable-looking parameter)."""

    def __init__(self, stride: int = 16, channels: int = 8) -> None:
        super().__init__()
        self.stride = stride
        self.value = nn.Parameter(torch.linspace(-1, 1, channels))

    def forward(self, x: torch.Tensor):
        b, _, h, w = x.shape
        return (self.value.view(1, -1, 1, 1).expand(b, -1, h // self.stride, w // self.stride), )


@MODELS.register_module(force=True)
class FixedPositionBackbone(nn.Module):
    """A fixed random code per cell position, independent of the image: blind to the flip."""

    def __init__(self, stride: int = 16, channels: int = 16, max_cells: int = 32) -> None:
        super().__init__()
        self.stride = stride
        gen = torch.Generator().manual_seed(0)
        self.register_buffer('code', torch.randn(channels, max_cells, max_cells, generator=gen))

    def forward(self, x: torch.Tensor):
        b, _, h, w = x.shape
        return (self.code[None, :, :h // self.stride, :w // self.stride].expand(b, -1, -1, -1), )


def write_config(path, backbone: dict) -> str:
    """A config file whose model has ``backbone`` and [0, 1] RGB normalisation."""
    with open(path, 'w') as f:
        f.write(f'model = dict(backbone={backbone!r}, '
                'data_preprocessor=dict(mean=[0., 0., 0.], std=[255., 255., 255.], to_rgb=True))\n')
    return str(path)


def save_backbone_checkpoint(path, module: nn.Module) -> str:
    """A Runner-style checkpoint holding ``module`` as the online backbone."""
    state = {f'backbone.{k}': v for k, v in module.state_dict().items()}
    torch.save(dict(meta=dict(iter=1), state_dict=state), str(path))
    return str(path)

# Copyright (c) mmlc contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.tokens import patch_tokens_to_map, square_patch_grid
from .local_projection_neck import LocalProjectionNeck


@MODELS.register_module()
class TokenLocalProjectionNeck(LocalProjectionNeck):
    """The local projection on ViT patch tokens: per-token linear, norm, linear, returned as a dense map.

    The paper's local branch on a ResNet-50 is conv1x1 (2048 -> 2048), BN, conv1x1 (-> 256) on the last stage
    (§4.1). A 1x1 convolution on the patch-token map *is* a linear layer applied to every token, so this neck
    keeps that design and its parameter names (``conv1``, ``bn``, ``conv2``, as :class:`LocalProjectionNeck`)
    and adds what tokens need: it takes the raw token sequence of ``VisionTransformer(out_type='raw')``,
    drops the class (and any distillation) token, which LC-loss never sees, and lays the patch tokens out on
    their grid (:func:`~mmlc.models.utils.patch_tokens_to_map`). A caller that has already made the map (it
    knows the exact grid of a non-square input) may pass the (B, C, h, w) map instead.

    Why BN by default: BN standardises each channel over all tokens of the batch, exactly what the paper's
    BN does over the cells of a ResNet map, so ResNet and ViT runs differ in the backbone only. MoCo v3, the
    host of the ViT plug-in, also keeps BN in the hidden layers of its ViT projector and predictor. A ViT's
    tokens leave the final LayerNorm already normalised per token, so a per-token LayerNorm in the hidden
    layer (``norm_cfg=dict(type='LN')``, normalising each token over its channels) is the alternative that
    couples nothing across tokens or images: the choice of DINO-style heads, which use no BN. Whatever the
    norm, the layer is named ``bn`` so that the usual ``custom_keys={'bn': ...}`` rule exempts it from weight
    decay. Defaults size it for ViT-S/16 (384 channels) with the paper's ratio (hidden = input width).

    Args:
        in_channels (int): Token width (embed dims). Defaults to 384.
        hid_channels (int): Hidden width. Defaults to 384.
        out_channels (int): Embedding width. Defaults to 256.
        norm_cfg (dict): ``BN`` / ``SyncBN`` (over all tokens of the batch) or ``LN`` (over each token's
            channels). Defaults to ``dict(type='SyncBN')`` (single-process runs revert it to BN).
        with_relu (bool): Whether a ReLU follows the norm. Defaults to False (the paper's conv-norm-conv).
        num_extra_tokens (int): Leading non-patch tokens of a raw sequence (1: the class token). Defaults to 1.
        patch_grid (Sequence[int], optional): (h, w) of raw sequences; None infers a square grid from the
            sequence length. Defaults to None.
        in_index (int): Which element of the backbone's output tuple to project. Defaults to -1.
        init_cfg (dict or list[dict], optional): As :class:`LocalProjectionNeck`. Defaults to Kaiming for
            the convolutions and constant 1 for a BN.
    """

    def __init__(
        self,
        in_channels: int = 384,
        hid_channels: int = 384,
        out_channels: int = 256,
        norm_cfg: dict = dict(type='SyncBN'),
        with_relu: bool = False,
        num_extra_tokens: int = 1,
        patch_grid: Optional[Sequence[int]] = None,
        in_index: int = -1,
        init_cfg: Optional[Union[dict, List[dict]]] = [
            dict(type='Kaiming', layer='Conv2d', mode='fan_in', nonlinearity='relu'),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ]
    ) -> None:
        norm_type = norm_cfg.get('type') if isinstance(norm_cfg, dict) else None
        if norm_type not in ('BN', 'BN2d', 'SyncBN', 'LN'):
            raise ValueError(f"norm_cfg type must be 'BN', 'SyncBN' or 'LN', got {norm_cfg!r}")
        if not (isinstance(num_extra_tokens, int) and num_extra_tokens >= 0):
            raise ValueError(f'num_extra_tokens must be an int >= 0, got {num_extra_tokens!r}')
        if patch_grid is not None and (len(patch_grid) != 2 or min(patch_grid) < 1):
            raise ValueError(f'patch_grid must be None or (h, w) with h, w >= 1, got {patch_grid!r}')
        super().__init__(
            in_channels=in_channels,
            hid_channels=hid_channels,
            out_channels=out_channels,
            norm_cfg=norm_cfg,
            with_relu=with_relu,
            in_index=in_index,
            init_cfg=init_cfg)
        self.norm_over_channels = isinstance(self.bn, nn.LayerNorm)
        self.num_extra_tokens = num_extra_tokens
        self.patch_grid = None if patch_grid is None else (int(patch_grid[0]), int(patch_grid[1]))

    def to_map(self, feats: Tensor) -> Tensor:
        """A raw token sequence (B, N, C) as its patch map (B, C, h, w); a 4-D map is returned as it is."""
        if feats.dim() == 4:
            return feats
        if feats.dim() != 3:
            raise ValueError(f'expected tokens (B, N, C) or a map (B, C, h, w), got shape {tuple(feats.shape)}')
        grid = self.patch_grid or square_patch_grid(feats.shape[1], self.num_extra_tokens)
        return patch_tokens_to_map(feats, grid, self.num_extra_tokens)

    def forward(self, inputs: Union[Tuple[Tensor, ...], List[Tensor]]) -> Tuple[Tensor]:
        """Project the patch tokens of one backbone output.

        Args:
            inputs (tuple[Tensor]): Backbone outputs; ``inputs[in_index]`` is the raw sequence
                (B, num_extra_tokens + h * w, in_channels) or the patch map (B, in_channels, h, w).

        Returns:
            tuple[Tensor]: One (B, out_channels, h, w) map.
        """
        x = self.conv1(self.to_map(inputs[self.in_index]))  # (B, hid, h, w): a linear layer per token
        if self.norm_over_channels:
            x = self.bn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LN over each token's hid channels
        else:
            x = self.bn(x)  # BN over the B * h * w tokens, per channel
        return (self.conv2(self.relu(x)), )  # (B, out, h, w)

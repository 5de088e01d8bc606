# Copyright (c) mmlc contributors. All rights reserved.
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class LocalProjectionNeck(BaseModule):
    """Dense projection for the local branch: 1x1 conv, BN, ReLU, 1x1 conv (paper §4.1).

    Applied to one backbone stage before pooling, so every spatial cell gets its own embedding. The
    paper omits whether a ReLU follows the BN; like PixPro's and BYOL's projectors we use one
    (``with_relu=False`` gives the literal two-conv reading). The BN is named ``bn`` so that the
    usual LARS ``custom_keys={'bn': ...}`` rule excludes it from weight decay and adaptation.

    Args:
        in_channels (int): Channels of the backbone stage. Defaults to 2048.
        hid_channels (int): Channels after the first conv. Defaults to 2048.
        out_channels (int): Embedding channels. Defaults to 256.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='SyncBN')`` (as mmpretrain's
            ``NonLinearNeck``; single-process runs revert it to BN).
        with_relu (bool): Whether a ReLU follows the BN. Defaults to True.
        in_index (int): Which element of the backbone's output tuple to project. Defaults to -1.
        init_cfg (dict or list[dict], optional): Initialisation config. Defaults to Kaiming for the
            convs and constant 1 for the BN, as mmpretrain's necks.
    """

    def __init__(
        self,
        in_channels: int = 2048,
        hid_channels: int = 2048,
        out_channels: int = 256,
        norm_cfg: dict = dict(type='SyncBN'),
        with_relu: bool = True,
        in_index: int = -1,
        init_cfg: Optional[Union[dict, List[dict]]] = [
            dict(type='Kaiming', layer='Conv2d', mode='fan_in', nonlinearity='relu'),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ]
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('hid_channels', hid_channels), ('out_channels',
                                                                                           out_channels)):
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        self.in_index = in_index
        self.conv1 = nn.Conv2d(in_channels, hid_channels, kernel_size=1, bias=False)
        _, self.bn = build_norm_layer(norm_cfg, hid_channels)
        self.relu = nn.ReLU(inplace=True) if with_relu else nn.Identity()
        self.conv2 = nn.Conv2d(hid_channels, out_channels, kernel_size=1)

    def forward(self, inputs: Union[Tuple[Tensor, ...], List[Tensor]]) -> Tuple[Tensor]:
        """Project one stage of backbone features.

        Args:
            inputs (tuple[Tensor]): Backbone outputs; ``inputs[in_index]`` is (B, in_channels, h, w).

        Returns:
            tuple[Tensor]: One (B, out_channels, h, w) map.
        """
        x = inputs[self.in_index]
        x = self.relu(self.bn(self.conv1(x)))  # (B, hid, h, w)
        return (self.conv2(x), )  # (B, out, h, w)

# Copyright (c) mmlc contributors. All rights reserved.
from typing import List, Optional, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.registry import MODELS
from torch import Tensor
from torch.nn.utils.parametrizations import weight_norm


@MODELS.register_module()
class DINONeck(BaseModule):
    """DINO's projection head (Caron et al. 2021, §3.1 and appendix): an MLP to a bottleneck, l2 normalisation,
    and a weight-normalised linear layer without bias onto ``out_channels`` prototypes.

    ``MLP: Linear(in, hid) [norm] GELU, (num_layers - 2) x [Linear(hid, hid) [norm] GELU], Linear(hid, bottleneck)``
    (a single ``Linear(in, bottleneck)`` when ``num_layers == 1``). The last layer is weight-normalised with
    :func:`torch.nn.utils.parametrizations.weight_norm`: ``W_k = g_k v_k / ||v_k||`` for each prototype k, with
    ``g`` initialised to 1 and frozen when ``norm_last_layer`` (so every prototype has unit norm and the outputs
    are cosine similarities). The parametrisation API, unlike the old ``torch.nn.utils.weight_norm`` (which
    stores the weight as a non-leaf attribute), survives ``copy.deepcopy``, which ``CosineEMA`` uses to make
    the teacher. The last layer's parameters are ``last_layer.parametrizations.weight.original0`` (g, (K, 1)) and
    ``...original1`` (v, (K, bottleneck)).

    Args:
        in_channels (int): Backbone feature channels.
        out_channels (int): Number of prototypes K. Defaults to 65536.
        hid_channels (int): Hidden width of the MLP. Defaults to 2048.
        bottleneck_channels (int): Bottleneck width. Defaults to 256.
        num_layers (int): Linear layers in the MLP, >= 1. Defaults to 3.
        norm_cfg (dict, optional): Norm after each hidden Linear (e.g. ``dict(type='BN1d')``, DINO's
            ``use_bn_in_head``). Defaults to None (no norm, DINO's default).
        norm_last_layer (bool): Freeze the weight-norm gains at 1. Defaults to True.
        with_avg_pool (bool): Average-pool a (B, C, H, W) input (ResNet). Defaults to False (a ViT's class
            token, (B, C)).
        init_cfg (dict, optional): Defaults to None: the MLP's Linear weights are drawn from a truncated
            normal with std 0.02 and biases set to 0, as DINO does; the last layer keeps PyTorch's default
            ``Linear`` init for v.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 65536,
                 hid_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 norm_cfg: Optional[dict] = None,
                 norm_last_layer: bool = True,
                 with_avg_pool: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('out_channels', out_channels),
                            ('hid_channels', hid_channels), ('bottleneck_channels', bottleneck_channels), ('num_layers',
                                                                                                           num_layers)):
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        self.with_avg_pool = with_avg_pool
        self.norm_last_layer = norm_last_layer
        widths = [in_channels] + [hid_channels] * (num_layers - 1) + [bottleneck_channels]
        layers: List[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(c_in, c_out))
            if i < num_layers - 1:  # hidden layers only
                if norm_cfg is not None:
                    layers.append(build_norm_layer(norm_cfg, c_out)[1])
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.last_layer = weight_norm(nn.Linear(bottleneck_channels, out_channels, bias=False), dim=0)
        gain = self.last_layer.parametrizations.weight.original0  # g: (K, 1)
        gain.data.fill_(1.)
        gain.requires_grad = not norm_last_layer

    def init_weights(self) -> None:
        """DINO's init of the MLP (the last layer's g and v stay as built), unless ``init_cfg`` says otherwise."""
        if self.init_cfg is not None:
            super().init_weights()
            return
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[Tensor]:
        """Project the last backbone output onto the prototypes.

        Args:
            x (tuple[Tensor]): Backbone outputs; the last one is used: (B, C) or, with ``with_avg_pool``,
                (B, C, H, W).

        Returns:
            tuple[Tensor]: The logits, (B, K).
        """
        feat = x[-1]
        if self.with_avg_pool:
            if feat.dim() != 4:
                raise ValueError(f'with_avg_pool expects (B, C, H, W) features, got {tuple(feat.shape)}')
            feat = feat.mean(dim=(2, 3))  # (B, C)
        elif feat.dim() != 2:
            raise ValueError(f'expects (B, C) features (set with_avg_pool for maps), got {tuple(feat.shape)}')
        z = F.normalize(self.mlp(feat), dim=-1)  # (B, bottleneck), unit l2 norm
        return (self.last_layer(z), )  # (B, K)

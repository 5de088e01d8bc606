# Copyright (c) mmlc contributors. All rights reserved.
"""Read backbone (and local-projection) weights out of the three checkpoint kinds the analyses accept.

- an mmlc Runner checkpoint: ``state_dict`` with ``backbone.*``, ``local_neck.*``,
  ``target_net.module.0.*`` (target backbone), ``target_local_neck.module.*``;
- an mmpretrain BYOL (or any mmpretrain model) checkpoint: ``state_dict`` with ``backbone.*`` and, for
  BYOL, ``target_net.module.0.*``;
- a torchvision ResNet state dict (``conv1.weight``, ``layer1.0.conv1.weight``, ..., ``fc.*``), or a
  backbone-only checkpoint in the same layout. mmpretrain's ``ResNet`` names its parameters exactly
  as torchvision does (``bn1``, ``layerN.M.downsample.{0,1}``), so no renaming is needed beyond
  dropping the classifier;
- any of these with an mmpretrain ``VisionTransformer`` (or subclass, e.g. ``MoCoV3ViT``) backbone instead
  (``patch_embed.projection.weight``, ``layers.N.attn.qkv.weight``, ...), including a bare one as
  ``tools/model_converters/extract_backbone.py`` writes it. Its architecture is read off the weights except
  the number of attention heads, which leaves no trace in them (:func:`infer_vit_config`).

Everything is loaded with ``torch.load(weights_only=True)``; importing :mod:`mmlc` allow-lists the few
non-tensor types a full mmengine checkpoint holds.
"""

import re
from typing import Dict, Mapping, Optional, Tuple

import torch
from mmengine.config import Config
from torch import Tensor

StateDict = Dict[str, Tensor]

#: Where each branch keeps its backbone and local projection, in the order they are tried.
BRANCH_PREFIXES = {
    'online':
    dict(backbone=('backbone.', ), local_neck=('local_neck.', )),
    # mmpretrain wraps the target in CosineEMA(Sequential(backbone, neck)); mmselfsup 0.x had no wrapper.
    # mmpretrain's MoCo v3 calls its EMA copy `momentum_encoder`.
    'target':
    dict(
        backbone=('target_net.module.0.', 'target_net.0.', 'momentum_encoder.module.0.'),
        local_neck=('target_local_neck.module.', 'target_local_neck.')),
}

#: Blocks per stage -> depth, for the two block types of ResNet.
_RESNET_DEPTHS = {
    ('BasicBlock', (2, 2, 2, 2)): 18,
    ('BasicBlock', (3, 4, 6, 3)): 34,
    ('Bottleneck', (3, 4, 6, 3)): 50,
    ('Bottleneck', (3, 4, 23, 3)): 101,
    ('Bottleneck', (3, 8, 36, 3)): 152,
}


def load_checkpoint_state(path: str) -> StateDict:
    """Load a checkpoint file safely and return its flat tensor state dict.

    Args:
        path (str): A Runner checkpoint (``{'state_dict': ..., 'meta': ...}``), a ``{'model': ...}``
            checkpoint, or a bare state dict.

    Returns:
        dict[str, Tensor]: The state dict with any DataParallel ``module.`` prefix removed.
    """
    import mmlc  # noqa: F401  (allow-lists mmengine's checkpoint globals for weights_only loading)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(ckpt, Mapping):
        raise ValueError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    for key in ('state_dict', 'model'):
        if key in ckpt and isinstance(ckpt[key], Mapping):
            ckpt = ckpt[key]
            break
    state = {k: v for k, v in ckpt.items() if isinstance(v, Tensor)}
    if not state:
        raise ValueError(f'{path}: no tensors found in the checkpoint')
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return state


def _with_prefix(state: Mapping[str, Tensor], prefixes: Tuple[str, ...]) -> Tuple[Optional[str], StateDict]:
    """The sub-dict under the first prefix that any key has, with the prefix removed."""
    for prefix in prefixes:
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if sub:
            return prefix, sub
    return None, {}


def load_checkpoint_config(path: str) -> Optional[Config]:
    """The config an mmengine Runner stored in its checkpoint (``meta['cfg']``), if any.

    Args:
        path (str): A checkpoint file.

    Returns:
        Config or None: None for a file without a stored config (a bare state dict, a hand-saved dict) or
        one whose text does not parse.
    """
    import mmlc  # noqa: F401  (weights_only allow-list)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    meta = ckpt.get('meta') if isinstance(ckpt, Mapping) else None
    text = meta.get('cfg') if isinstance(meta, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        return Config.fromstring(text, file_format='.py')
    except Exception:  # a stored text that is not a loadable config is the same as none
        return None


def is_bare_resnet(state: Mapping[str, Tensor]) -> bool:
    """Whether ``state`` is a ResNet in torchvision's layout (no ``backbone.`` wrapper)."""
    return 'layer1.0.conv1.weight' in state and ('conv1.weight' in state or 'stem.0.weight' in state)


def is_vit_state(state: Mapping[str, Tensor]) -> bool:
    """Whether a (prefix-free) backbone state dict is an mmpretrain ``VisionTransformer``."""
    return 'patch_embed.projection.weight' in state and 'layers.0.attn.qkv.weight' in state


def split_checkpoint_state(state: Mapping[str, Tensor], branch: str = 'online') -> Tuple[StateDict, StateDict]:
    """Pick the backbone and local-projection weights of one branch out of a flat state dict.

    Args:
        state (dict[str, Tensor]): From :func:`load_checkpoint_state`.
        branch (str): ``'online'`` (what downstream tasks use) or ``'target'`` (the EMA network).
            Defaults to 'online'.

    Returns:
        tuple[dict, dict]: ``(backbone_state, local_neck_state)`` with prefixes removed; the second is
        empty when the checkpoint has no local branch (BYOL, torchvision).
    """
    if branch not in BRANCH_PREFIXES:
        raise ValueError(f'branch must be one of {tuple(BRANCH_PREFIXES)}, got {branch!r}')
    prefixes = BRANCH_PREFIXES[branch]
    found, backbone = _with_prefix(state, prefixes['backbone'])
    if found is None:
        if branch == 'target':
            raise KeyError(f'no target backbone ({prefixes["backbone"]}) in the checkpoint')
        if is_vit_state(state):  # a bare mmpretrain ViT backbone (extract_backbone.py's mmpretrain format)
            backbone = dict(state)
        elif is_bare_resnet(state):
            backbone = {k: v for k, v in state.items() if not k.startswith('fc.')}  # drop the classifier
        else:
            sample = sorted(state)[:5]
            raise KeyError(f'cannot find backbone weights: no "backbone." keys and neither a torchvision ResNet '
                           f'nor an mmpretrain ViT state dict (first keys: {sample})')
    _, local_neck = _with_prefix(state, prefixes['local_neck'])
    return backbone, local_neck


def infer_resnet_config(backbone_state: Mapping[str, Tensor]) -> dict:
    """mmpretrain backbone config that matches a ResNet state dict (depth, stem, downsampling).

    Args:
        backbone_state (dict[str, Tensor]): ResNet weights in mmpretrain/torchvision naming.

    Returns:
        dict: e.g. ``dict(type='ResNet', depth=50, out_indices=(0, 1, 2, 3), norm_cfg=dict(type='BN'))``;
        ``ResNetV1c`` for a deep stem, ``ResNetV1d`` for a deep stem with average-pool downsampling.
    """
    blocks = []
    for stage in range(1, 5):
        idx = {
            int(m.group(1))
            for k in backbone_state
            for m in [re.match(rf'layer{stage}\.(\d+)\.', k)] if m is not None
        }
        blocks.append(max(idx) + 1 if idx else 0)
    block = 'Bottleneck' if 'layer1.0.conv3.weight' in backbone_state else 'BasicBlock'
    depth = _RESNET_DEPTHS.get((block, tuple(blocks)))
    if depth is None:
        raise ValueError(f'not a standard ResNet: {block} with {blocks} blocks per stage')
    deep_stem = 'stem.0.weight' in backbone_state
    # ResNetV1d's shortcut is AvgPool -> conv -> BN, so its conv sits at downsample.1.
    avg_down = backbone_state.get('layer2.0.downsample.1.weight', torch.empty(0)).dim() == 4
    kind = 'ResNetV1d' if avg_down else ('ResNetV1c' if deep_stem else 'ResNet')
    return dict(type=kind, depth=depth, out_indices=(0, 1, 2, 3), norm_cfg=dict(type='BN'))


def _layer_count(state: Mapping[str, Tensor], prefix: str) -> int:
    """1 + the largest N of the keys ``{prefix}N.*`` (0 when there are none)."""
    idx = {int(m.group(1)) for k in state for m in [re.match(rf'{re.escape(prefix)}(\d+)\.', k)] if m is not None}
    return max(idx) + 1 if idx else 0


def infer_vit_config(backbone_state: Mapping[str, Tensor], num_heads: int) -> dict:
    """mmpretrain ``VisionTransformer`` config that matches a ViT state dict, with raw token outputs of every
    layer (``out_type='raw'``).

    Read off the weights: embed dims and input channels (``patch_embed.projection.weight`` (C, 3, p, p)), patch
    size, depth, FFN width, the pretraining image size (from ``pos_embed`` (1, extra + (S / p)^2, C)), class
    token, qkv bias, final / pre norm, layer scale, patch-embedding bias. Not in the weights: the number of
    attention heads (``qkv`` is (3C, C) whatever the split), the LayerNorm eps (mmpretrain's default 1e-6 is
    assumed, as ``MoCoV3ViT`` and DeiT-style configs use) and the position-embedding interpolation mode
    (mmpretrain's default bicubic).

    Args:
        backbone_state (dict[str, Tensor]): Prefix-free ViT weights in mmpretrain's naming.
        num_heads (int): Attention heads per layer (e.g. 6 for DeiT-S/16, 12 for MoCo v3's ``mocov3-small``).

    Returns:
        dict: e.g. ``dict(type='VisionTransformer', arch=dict(embed_dims=384, num_layers=12, num_heads=6,
        feedforward_channels=1536), img_size=224, patch_size=16, out_type='raw', out_indices=(0, ..., 11),
        ...)``.

    Raises:
        ValueError: A layout this cannot describe (distillation token, non-square patches or position
            grid), or ``num_heads`` that does not divide the embed dims.
    """
    if 'dist_token' in backbone_state:
        raise ValueError('a DeiT distillation token: pass the config of this backbone')
    embed_dims, in_channels, patch_h, patch_w = backbone_state['patch_embed.projection.weight'].shape
    if patch_h != patch_w:
        raise ValueError(f'non-square patches {patch_h}x{patch_w}: pass the config of this backbone')
    if not (isinstance(num_heads, int) and num_heads > 0 and embed_dims % num_heads == 0):
        raise ValueError(f'num_heads must be a positive divisor of the embed dims {embed_dims}, got {num_heads!r}')
    num_layers = _layer_count(backbone_state, 'layers.')
    with_cls_token = 'cls_token' in backbone_state
    positions = backbone_state['pos_embed'].shape[1] - int(with_cls_token)
    side = int(round(positions**0.5))
    if side * side != positions:
        raise ValueError(f'pos_embed holds {positions} patch positions, not a square grid')
    pre_norm = 'pre_norm.weight' in backbone_state
    cfg = dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=int(embed_dims),
            num_layers=num_layers,
            num_heads=num_heads,
            feedforward_channels=int(backbone_state['layers.0.ffn.layers.0.0.weight'].shape[0])),
        img_size=side * int(patch_h),
        patch_size=int(patch_h),
        in_channels=int(in_channels),
        qkv_bias='layers.0.attn.qkv.bias' in backbone_state,
        final_norm='ln1.weight' in backbone_state,
        with_cls_token=with_cls_token,
        pre_norm=pre_norm,
        out_type='raw',
        out_indices=tuple(range(num_layers)))
    if 'layers.0.attn.gamma1.weight' in backbone_state:
        cfg['layer_scale_init_value'] = 1e-5  # any non-zero value builds the LayerScale; the weights replace it
    if not pre_norm and 'patch_embed.projection.bias' not in backbone_state:
        cfg['patch_cfg'] = dict(bias=False)  # pre_norm=True already drops it
    return cfg


def select_local_level(local_neck_state: Mapping[str, Tensor], level: int = -1) -> StateDict:
    """One level's weights from a single local neck (``conv1.weight``, ...) or a multi-level one
    (``0.conv1.weight``, ``1.conv1.weight``, ...; mmlc's ``local_neck`` list).

    Args:
        local_neck_state (dict[str, Tensor]): Local-neck weights without the ``local_neck.`` prefix.
        level (int): Which level of a multi-level neck (Python indexing). Defaults to -1 (the last).

    Returns:
        dict[str, Tensor]: That level's weights, prefix removed.
    """
    if 'conv1.weight' in local_neck_state:
        if level not in (0, -1):
            raise IndexError(f'the checkpoint has a single local neck; level {level} does not exist')
        return dict(local_neck_state)
    levels = sorted({int(k.split('.', 1)[0]) for k in local_neck_state if k.split('.', 1)[0].isdigit()})
    if not levels:
        raise KeyError(f'unrecognised local neck weights: {sorted(local_neck_state)[:5]}')
    chosen = f'{levels[level]}.'
    return {k[len(chosen):]: v for k, v in local_neck_state.items() if k.startswith(chosen)}


def infer_local_neck_config(local_neck_state: Mapping[str, Tensor], tokens: bool = False) -> dict:
    """``LocalProjectionNeck`` (or, on ViT tokens, ``TokenLocalProjectionNeck``) config matching its weights
    (used when no config file is given).

    Args:
        local_neck_state (dict[str, Tensor]): ``conv1.weight`` (hid, in, 1, 1), ``conv2.weight``
            (out, hid, 1, 1), ``bn.*``.
        tokens (bool): The neck projects ViT patch tokens. Defaults to False.

    Whether a ReLU follows the norm leaves no trace in the weights: this assumes conv-BN-conv, the paper's text
    and the choice of every config mmlc ships. Pass the training config for a neck trained with
    ``with_relu=True``. The norm is a BN unless ``bn.*`` has affine weights but no running statistics, which
    only ``TokenLocalProjectionNeck``'s LayerNorm option writes.

    Returns:
        dict: The neck config, plain BN (or LN), no ReLU.
    """
    hid, in_ch = local_neck_state['conv1.weight'].shape[:2]
    out_ch = local_neck_state['conv2.weight'].shape[0]
    layer_norm = 'bn.weight' in local_neck_state and 'bn.running_mean' not in local_neck_state
    if layer_norm and not tokens:
        raise ValueError('a local neck with a LayerNorm (no running statistics) on a ResNet: pass the config')
    return dict(
        type='TokenLocalProjectionNeck' if tokens else 'LocalProjectionNeck',
        in_channels=int(in_ch),
        hid_channels=int(hid),
        out_channels=int(out_ch),
        norm_cfg=dict(type='LN' if layer_norm else 'BN'),
        with_relu=False)

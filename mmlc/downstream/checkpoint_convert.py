# Copyright (c) mmlc contributors. All rights reserved.
"""Pure key/tensor conversions from an mmlc pretraining checkpoint to downstream layouts.

No file I/O, no registries: dicts of tensors in, dicts out. ``tools/model_converters/extract_backbone.py``
is the command-line wrapper that reads and writes the files.

Layouts of one ResNet-50 backbone (``L`` in 1..4, block ``b``, conv/bn index ``i`` in 1..3):

============  ==========================  ===============================  ======================
part          mmpretrain (= mmdet/mmseg)  torchvision                      detectron2
============  ==========================  ===============================  ======================
stem conv     ``conv1.weight``            ``conv1.weight``                 ``stem.conv1.weight``
stem BN       ``bn1.*``                   ``bn1.*``                        ``stem.conv1.norm.*``
block conv    ``layerL.b.convi.weight``   ``layerL.b.convi.weight``        ``res{L+1}.b.convi.weight``
block BN      ``layerL.b.bni.*``          ``layerL.b.bni.*``               ``res{L+1}.b.convi.norm.*``
projection    ``layerL.0.downsample.0``   ``layerL.0.downsample.0``        ``res{L+1}.0.shortcut``
proj. BN      ``layerL.0.downsample.1``   ``layerL.0.downsample.1``        ``res{L+1}.0.shortcut.norm``
============  ==========================  ===============================  ======================

mmpretrain's plain ``ResNet`` names its BN layers ``bn1``/``bn2``/``bn3`` (``build_norm_layer`` with a
``BN``/``SyncBN`` config), so its layout *is* torchvision's minus ``fc``; the torchvision converter only
checks that. detectron2's renaming follows MoCo's ``convert-pretrain-to-detectron2.py`` (also used by
PixPro and solo-learn).

Layouts of one ViT backbone (layer ``i``): mmpretrain 1.2.0's ``VisionTransformer`` (also ``MoCoV3ViT``) and
mmseg 1.2.2's ``VisionTransformer``. Only the attention (mmpretrain's own ``MultiheadAttention`` with one
``qkv`` linear vs mmcv's wrapper around ``torch.nn.MultiheadAttention``) and the optional pre-norm differ; both
pack q, k, v in that order along the rows of one (3C, C) matrix and split heads the same way, so the tensors
move unchanged:

- ``layers.i.attn.qkv.{weight,bias}`` -> ``layers.i.attn.attn.in_proj_{weight,bias}``;
- ``layers.i.attn.proj.{weight,bias}`` -> ``layers.i.attn.attn.out_proj.{weight,bias}``;
- ``pre_norm.*`` (CLIP-style) -> ``ln_pre.*``;
- the same in both: ``patch_embed.projection.*``, ``cls_token``, ``pos_embed``, ``layers.i.ln1.*``,
  ``layers.i.ln2.*``, ``layers.i.ffn.layers.0.0.*``, ``layers.i.ffn.layers.1.*`` and the final norm ``ln1.*``.

mmseg's ViT then needs the arguments :func:`mmseg_vit_args` reads off the weights (``patch_bias=True``, as
mmpretrain's patch embedding has a bias and mmseg's default has none; ``final_norm=True`` to use ``ln1``), the
pretraining head count, and LayerNorm eps 1e-6 (mmpretrain's default). It has no layer scale, no distillation
token, always a class token and a qkv bias, so backbones with those differences are refused.
"""

import re
from collections import OrderedDict
from typing import Dict, Mapping

from torch import Tensor

# Where each backbone lives in a BYOL / BYOLLocalContrast Runner checkpoint. The EMA target is mmpretrain's
# ``CosineEMA(nn.Sequential(backbone, neck))``, so its backbone is element 0 of the wrapped module.
BACKBONE_PREFIXES = {'online': 'backbone.', 'target': 'target_net.module.0.'}

_TORCHVISION_KEY = re.compile(r'^(conv1\.weight|bn1\.\w+|layer[1-4]\.\d+\.(conv[1-3]\.weight|bn[1-3]\.\w+|'
                              r'downsample\.0\.weight|downsample\.1\.\w+))$')


def runner_state_dict(checkpoint: Mapping) -> Mapping[str, Tensor]:
    """The model weights of a checkpoint: ``checkpoint['state_dict']`` for a Runner file, else itself.

    Args:
        checkpoint (Mapping): What ``torch.load`` returned.

    Returns:
        Mapping[str, Tensor]: Parameter/buffer name -> tensor.
    """
    return checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint


def extract_backbone(state_dict: Mapping[str, Tensor],
                     source: str = 'online',
                     keep_prefix: bool = False) -> 'OrderedDict[str, Tensor]':
    """Select one backbone's tensors from a full pretraining state dict.

    Args:
        state_dict (Mapping[str, Tensor]): A BYOL/BYOLLocalContrast model state dict (``backbone.*``,
            ``target_net.module.0.*``, ``neck.*``, ``local_neck.*``, ...).
        source (str): ``'online'`` (the trained backbone, what the paper transfers) or ``'target'`` (the
            EMA copy). Defaults to 'online'.
        keep_prefix (bool): Return keys as ``backbone.conv1.weight`` (for mmdet/mmseg's
            ``init_cfg=dict(type='Pretrained', prefix='backbone.')``) instead of ``conv1.weight``. The
            target backbone is also renamed to ``backbone.``. Defaults to False.

    Returns:
        OrderedDict[str, Tensor]: Backbone tensors (detached, contiguous), in the checkpoint's order.

    Raises:
        ValueError: Unknown ``source``.
        KeyError: The state dict holds no key under that backbone's prefix.
    """
    if source not in BACKBONE_PREFIXES:
        raise ValueError(f'source must be one of {sorted(BACKBONE_PREFIXES)}, got {source!r}')
    prefix = BACKBONE_PREFIXES[source]
    out_prefix = 'backbone.' if keep_prefix else ''
    out = OrderedDict(
        (out_prefix + k[len(prefix):], v.detach().contiguous()) for k, v in state_dict.items() if k.startswith(prefix))
    if not out:
        raise KeyError(f'no "{prefix}*" keys in the state dict; its first keys are {list(state_dict)[:5]}')
    return out


def to_torchvision(backbone: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """A prefix-free mmpretrain ``ResNet`` state dict in torchvision's ``resnet*`` layout (no ``fc``).

    Load it with ``torchvision.models.resnet50().load_state_dict(sd, strict=False)`` and check that the
    only missing keys are ``fc.weight``/``fc.bias`` (or delete ``fc`` first and use ``strict=True``).

    Args:
        backbone (Mapping[str, Tensor]): Output of :func:`extract_backbone` with ``keep_prefix=False``.

    Returns:
        OrderedDict[str, Tensor]: The same tensors under the same names (the layouts coincide).

    Raises:
        ValueError: A key that a torchvision ResNet does not have (e.g. a deep stem ``stem.*`` of
            ``ResNetV1c``, or a ``backbone.`` prefix).
    """
    bad = [k for k in backbone if not _TORCHVISION_KEY.match(k)]
    if bad:
        raise ValueError(f'keys outside the torchvision ResNet layout (deep stem or prefix?): {bad[:5]}')
    return OrderedDict(backbone)


def detectron2_key(key: str) -> str:
    """Rename one torchvision/mmpretrain ResNet key to detectron2's ResNet layout (see the module table).

    Args:
        key (str): e.g. ``'layer1.0.downsample.1.running_mean'``.

    Returns:
        str: e.g. ``'res2.0.shortcut.norm.running_mean'``.
    """
    if not key.startswith('layer'):
        key = 'stem.' + key  # conv1.weight -> stem.conv1.weight, bn1.* -> stem.bn1.*
    key = re.sub(r'^layer([1-4])', lambda m: f'res{int(m.group(1)) + 1}', key)
    key = re.sub(r'\bbn([1-3])\b', r'conv\1.norm', key)
    key = key.replace('downsample.0', 'shortcut').replace('downsample.1', 'shortcut.norm')
    return key


def to_detectron2(backbone: Mapping[str, Tensor], author: str = 'mmlc') -> Dict[str, object]:
    """A prefix-free ResNet state dict as the object detectron2 expects in a ``.pkl`` weights file.

    ``num_batches_tracked`` counters are dropped: detectron2's ``FrozenBatchNorm2d`` has no such buffer
    and its checkpointer would report them as unused. Values become numpy arrays, as in detectron2's
    own model-zoo pickles; ``matching_heuristics`` tells its checkpointer to match names loosely, as it
    does for MoCo/PixPro conversions.

    Args:
        backbone (Mapping[str, Tensor]): Output of :func:`extract_backbone` with ``keep_prefix=False``.
        author (str): Value of ``__author__``. Defaults to 'mmlc'.

    Returns:
        dict: ``{'model': {d2_key: np.ndarray}, '__author__': author, 'matching_heuristics': True}``.
    """
    # A plain dict (not OrderedDict): the pickle then references numpy only.
    model = {
        detectron2_key(k): v.detach().cpu().numpy()
        for k, v in to_torchvision(backbone).items() if not k.endswith('num_batches_tracked')
    }
    return {'model': model, '__author__': author, 'matching_heuristics': True}


_MMSEG_VIT_RENAMES = ((re.compile(r'^(layers\.\d+\.attn\.)qkv\.(weight|bias)$'), r'\1attn.in_proj_\2'),
                      (re.compile(r'^(layers\.\d+\.attn\.)proj\.(weight|bias)$'),
                       r'\1attn.out_proj.\2'), (re.compile(r'^pre_norm\.'), 'ln_pre.'))
_MMSEG_VIT_KEY = re.compile(r'^(cls_token|pos_embed|patch_embed\.projection\.(weight|bias)|ln1\.(weight|bias)|'
                            r'layers\.\d+\.(ln[12]\.(weight|bias)|attn\.(qkv|proj)\.(weight|bias)|'
                            r'ffn\.layers\.(0\.0|1)\.(weight|bias))|pre_norm\.(weight|bias))$')


def mmseg_vit_key(key: str) -> str:
    """Rename one mmpretrain ``VisionTransformer`` key to mmseg's ``VisionTransformer`` (see the module table).

    Args:
        key (str): e.g. ``'layers.3.attn.qkv.weight'``.

    Returns:
        str: e.g. ``'layers.3.attn.attn.in_proj_weight'``; keys both layouts share come back unchanged.
    """
    for pattern, repl in _MMSEG_VIT_RENAMES:
        key = pattern.sub(repl, key)
    return key


def to_mmseg_vit(backbone: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """A prefix-free mmpretrain ``VisionTransformer`` state dict in mmseg's ``VisionTransformer`` layout.

    Load it with mmseg's ``VisionTransformer(embed_dims=C, num_layers=L, num_heads=..., patch_size=p,
    patch_bias=True, final_norm=True, norm_cfg=dict(type='LN', eps=1e-6), ...)`` (strictly: every key has its
    counterpart), or through ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``, whose loader also resizes
    ``pos_embed`` to the fine-tuning resolution. The head count is not in the weights: set it as in
    pretraining.

    Args:
        backbone (Mapping[str, Tensor]): Output of :func:`extract_backbone` with ``keep_prefix=False``.

    Returns:
        OrderedDict[str, Tensor]: The same tensors under mmseg's names, in the same order.

    Raises:
        ValueError: A key mmseg's ViT has no counterpart for (layer scale ``gamma``, ``dist_token``, the
            ``avg_featmap`` norm ``ln2``, a prefix, a ResNet key), or no class token, or no qkv bias.
    """
    bad = [k for k in backbone if not _MMSEG_VIT_KEY.match(k)]
    if bad:
        raise ValueError(f'keys without a counterpart in mmseg\'s VisionTransformer: {bad[:5]}')
    missing = [k for k in ('cls_token', 'pos_embed', 'layers.0.attn.qkv.bias') if k not in backbone]
    if missing:
        raise ValueError(f'mmseg\'s VisionTransformer always has a class token and (with proj. bias) a qkv bias; '
                         f'the backbone lacks {missing}')
    return OrderedDict((mmseg_vit_key(k), v) for k, v in backbone.items())


def mmseg_vit_args(backbone: Mapping[str, Tensor]) -> Dict[str, object]:
    """The arguments of mmseg's ``VisionTransformer`` that a ViT state dict fixes (all but ``num_heads``).

    Args:
        backbone (Mapping[str, Tensor]): Prefix-free mmpretrain ViT weights.

    Returns:
        dict: ``embed_dims``, ``num_layers``, ``patch_size``, ``mlp_ratio``, ``img_size`` (the pretraining
        resolution, from ``pos_embed``), ``patch_bias``, ``final_norm`` and ``pre_norm``.

    Raises:
        ValueError: Not a ViT, or an FFN width that is not an integer multiple of the embed dims.
    """
    proj = backbone.get('patch_embed.projection.weight')
    if proj is None or 'pos_embed' not in backbone or 'layers.0.ffn.layers.0.0.weight' not in backbone:
        raise ValueError('not an mmpretrain ViT state dict (patch_embed.projection / pos_embed / layers.0.ffn)')
    embed_dims, patch = int(proj.shape[0]), int(proj.shape[-1])
    num_layers = 1 + max(int(m.group(1)) for k in backbone for m in [re.match(r'layers\.(\d+)\.', k)] if m)
    hidden = int(backbone['layers.0.ffn.layers.0.0.weight'].shape[0])
    if hidden % embed_dims:
        raise ValueError(f'FFN width {hidden} is not a multiple of {embed_dims}: mmseg takes an integer mlp_ratio')
    side = int(round((backbone['pos_embed'].shape[1] - 1)**0.5))  # (1, 1 + side^2, C)
    return dict(
        embed_dims=embed_dims,
        num_layers=num_layers,
        patch_size=patch,
        mlp_ratio=hidden // embed_dims,
        img_size=side * patch,
        patch_bias='patch_embed.projection.bias' in backbone,
        final_norm='ln1.weight' in backbone,
        pre_norm='pre_norm.weight' in backbone)

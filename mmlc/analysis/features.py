# Copyright (c) mmlc contributors. All rights reserved.
"""Dense backbone features for the analyses, from a checkpoint file or from a live model.

Images travel as mmcv does: (H, W, 3) uint8 in BGR order. :class:`DenseFeatureExtractor` converts and
normalises them as the model's data preprocessor would, runs the backbone and returns one stage's
feature map (optionally after the local projection). A vision transformer's dense map is its patch tokens
laid out on the patch grid, the class token left out (:func:`~mmlc.models.utils.patch_tokens_to_map`).
"""

import copy
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from torch import Tensor

from ..models.utils.tokens import patch_grid_size, patch_tokens_to_map
from .weights import (infer_local_neck_config, infer_resnet_config, infer_vit_config, is_vit_state,
                      load_checkpoint_config, load_checkpoint_state, select_local_level, split_checkpoint_state)

#: ImageNet mean/std in RGB order (mmpretrain's data preprocessors), used when no config says otherwise.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def images_to_tensor(images: Sequence[np.ndarray],
                     mean: Sequence[float],
                     std: Sequence[float],
                     to_rgb: bool = True) -> Tensor:
    """Stack same-sized BGR uint8 images into a normalised float batch.

    Args:
        images (Sequence[np.ndarray]): B images, each (H, W, 3) uint8, BGR.
        mean (Sequence[float]): Per-channel mean, in the channel order after conversion.
        std (Sequence[float]): Per-channel std, likewise.
        to_rgb (bool): Convert BGR to RGB before normalising. Defaults to True.

    Returns:
        Tensor: (B, 3, H, W) float32.
    """
    batch = torch.from_numpy(np.stack(images)).float()  # (B, H, W, 3)
    if to_rgb:
        batch = batch.flip(-1)
    batch = batch.permute(0, 3, 1, 2)  # (B, 3, H, W)
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (batch - mean_t) / std_t


def resolve_device(name: str) -> torch.device:
    """A command line's ``--device``: ``'auto'`` is CUDA when available, else CPU; anything else as torch reads it."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(name)


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode and restore every submodule's own ``training`` flag afterwards."""
    flags = [(m, m.training) for module in modules for m in module.modules()]
    try:
        for module in modules:
            module.eval()
        yield
    finally:
        for m, flag in flags:
            m.training = flag


#: Attribute names of the EMA (target / momentum / teacher) network of the supported algorithms.
EMA_NAMES = ('target_net', 'momentum_encoder', 'teacher')


def token_layout(backbone: nn.Module) -> Optional[int]:
    """How many extra tokens lead a ViT backbone's raw token outputs; None for a backbone that returns maps.

    Args:
        backbone (nn.Module): Any backbone.

    Returns:
        int or None: ``backbone.num_extra_tokens`` for an mmpretrain ``VisionTransformer`` (or subclass) whose
        dense output is its token sequence: ``out_type='raw'``, or a pooled ``'cls_token'`` / ``'avg_featmap'``
        output, which :func:`dense_outputs` turns to raw tokens for the call; None for a ViT with
        ``out_type='featmap'`` and for any other backbone.
    """
    from mmpretrain.models import VisionTransformer
    if not isinstance(backbone, VisionTransformer) or backbone.out_type == 'featmap':
        return None
    return int(backbone.num_extra_tokens)


@contextmanager
def dense_outputs(backbone: nn.Module) -> Iterator[None]:
    """Within the block, a ViT trained with a pooled output (MoCo v3's and DINO's ``out_type='cls_token'``)
    returns its raw token sequence, whose patch tokens are the dense features; the output type is restored on
    exit.

    Other backbones are left alone. (mmpretrain's ViT reads ``out_type`` only when it formats its output,
    after the final norm, so the tokens are those the pooled output is taken from.)
    """
    pooled = token_layout(backbone) is not None and backbone.out_type != 'raw'
    if not pooled:
        yield
        return
    out_type = backbone.out_type
    backbone.out_type = 'raw'
    try:
        yield
    finally:
        backbone.out_type = out_type


class DenseFeatureExtractor(nn.Module):
    """Backbone (+ optional local projection) -> one dense feature map.

    A ViT backbone with ``out_type='raw'`` (see :func:`token_layout`) returns token sequences; the extractor
    turns the chosen one into its (B, C, h, w) patch map, class token excluded, on the patch grid of the
    input (:func:`~mmlc.models.utils.patch_grid_size`), before the local neck sees it.

    Args:
        backbone (nn.Module): Returns a tuple of feature maps (or of raw ViT token sequences).
        stage (int): Index into the backbone's output tuple. Defaults to -1 (the last one).
        local_neck (nn.Module, optional): Applied to the backbone outputs instead of taking ``stage``;
            returns a 1-tuple (``LocalProjectionNeck``). Defaults to None.
        neck_inputs (Sequence[int], optional): Which backbone outputs the neck receives, as the tuple
            it was trained on. Defaults to None (all of them).
        mean (Sequence[float]): Normalisation mean. Defaults to :data:`IMAGENET_MEAN`.
        std (Sequence[float]): Normalisation std. Defaults to :data:`IMAGENET_STD`.
        to_rgb (bool): Whether the model expects RGB (the input images are BGR). Defaults to True.
    """

    def __init__(self,
                 backbone: nn.Module,
                 stage: int = -1,
                 local_neck: Optional[nn.Module] = None,
                 neck_inputs: Optional[Sequence[int]] = None,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 to_rgb: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_extra_tokens = token_layout(backbone)
        self.local_neck = local_neck
        self.stage = int(stage)
        self.neck_inputs = None if neck_inputs is None else tuple(neck_inputs)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.to_rgb = bool(to_rgb)

    @property
    def device(self) -> torch.device:
        param = next(self.parameters(), None)
        if param is None:
            buf = next(self.buffers(), None)
            return buf.device if buf is not None else torch.device('cpu')
        return param.device

    def forward(self, inputs: Tensor) -> Tensor:
        """Features of a normalised batch.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.

        Returns:
            Tensor: (B, C, h, w) the chosen map.
        """
        with dense_outputs(self.backbone):
            outs = self.backbone(inputs)
        if self.local_neck is None:
            return self._as_map(outs[self.stage], inputs)
        if self.neck_inputs is not None:
            outs = tuple(outs[i] for i in self.neck_inputs)
        return self.local_neck(tuple(self._as_map(out, inputs) for out in outs))[0]

    def _as_map(self, feats: Tensor, inputs: Tensor) -> Tensor:
        """A raw ViT token sequence (B, N, C) of ``inputs`` as its (B, C, h, w) patch map; a map as it is."""
        if self.num_extra_tokens is None:
            return feats
        grid = patch_grid_size(self.backbone.patch_embed, inputs.shape[-2:])
        return patch_tokens_to_map(feats, grid, self.num_extra_tokens)

    @torch.no_grad()
    def extract(self, images: Sequence[np.ndarray]) -> Tensor:
        """Features of BGR uint8 images of one size, in eval mode, without gradients.

        Args:
            images (Sequence[np.ndarray]): B images, each (H, W, 3) uint8 BGR.

        Returns:
            Tensor: (B, C, h, w) float32 on the CPU.
        """
        batch = images_to_tensor(images, self.mean, self.std, self.to_rgb).to(self.device)
        with eval_mode(self):
            return self(batch).float().cpu()


def _to_bn(cfg: Union[dict, list]) -> Union[dict, list]:
    """Replace SyncBN by BN everywhere in a config (eval on one process needs no sync)."""
    if isinstance(cfg, dict):
        out = {k: _to_bn(v) for k, v in cfg.items()}
        if out.get('type') == 'SyncBN':
            out['type'] = 'BN'
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_to_bn(v) for v in cfg)
    return cfg


def _stage_with_channels(backbone_state: dict, channels: int) -> int:
    """Index of the ResNet stage (0-3) whose output has ``channels`` channels."""
    widths = []
    for stage in range(1, 5):
        convs = [
            k for k in backbone_state if k.startswith(f'layer{stage}.') and k.endswith('.weight')
            and backbone_state[k].dim() == 4 and '.downsample.' not in k
        ]
        widths.append(int(backbone_state[max(convs, key=_block_order)].shape[0]) if convs else -1)
    if channels not in widths:
        raise ValueError(f'no ResNet stage has {channels} channels (stage widths {widths})')
    return widths.index(channels)


def _block_order(key: str):
    """Sort key of ``layerS.B.convK.weight``: block, then conv."""
    _, block, conv = key.split('.')[:3]
    return int(block), conv


def _load_strict(module: nn.Module, state: dict, what: str) -> None:
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(f'{what} weights do not match the model: missing {result.missing_keys[:8]}, '
                       f'unexpected {result.unexpected_keys[:8]}')


def _vit_num_heads(checkpoint: str, num_heads: Optional[int]) -> int:
    """Heads of a ViT checkpoint without a config: ``num_heads`` if given, else the backbone config the Runner
    stored in the checkpoint (``meta['cfg']``)."""
    if num_heads is not None:
        return num_heads
    from mmpretrain.registry import MODELS
    stored = load_checkpoint_config(checkpoint)
    backbone_cfg = stored.get('model', {}).get('backbone') if stored is not None else None
    if not backbone_cfg:
        raise ValueError(f'{checkpoint} holds a ViT, whose number of attention heads leaves no trace in the '
                         'weights, and no stored config: pass its config, or num_heads (--num-heads)')
    arch = backbone_cfg.get('arch')
    if isinstance(arch, dict):
        return int(arch['num_heads'])
    backbone_cfg = _to_bn(dict(backbone_cfg.to_dict() if hasattr(backbone_cfg, 'to_dict') else backbone_cfg))
    backbone_cfg.pop('init_cfg', None)
    # A named arch (e.g. 'mocov3-small', which MoCoV3ViT adds to the table only when built): build and ask.
    return int(MODELS.build(backbone_cfg).layers[0].attn.num_heads)


def build_feature_extractor(checkpoint: str,
                            config: Optional[Union[str, Config]] = None,
                            stage: int = -1,
                            use_local_neck: bool = False,
                            branch: str = 'online',
                            device: Union[str, torch.device] = 'cpu',
                            local_level: int = -1,
                            num_heads: Optional[int] = None) -> DenseFeatureExtractor:
    """Build a frozen feature extractor from any of the three checkpoint kinds, with a ResNet or ViT backbone.

    Args:
        checkpoint (str): mmlc / mmpretrain Runner checkpoint, torchvision ResNet state dict or bare
            mmpretrain ViT backbone.
        config (str or Config, optional): Config whose ``model.backbone`` (and ``model.local_neck``,
            ``model.data_preprocessor``) describe the network. ``None`` or ``'auto'``: a plain mmpretrain
            ResNet or ``VisionTransformer`` inferred from the weights, ImageNet normalisation. Defaults to None.
        stage (int): ResNet stage 0-3 (or -1 = last) for ResNet backbones, whose ``out_indices`` are set
            to all four stages; ViT layer 0..L-1 (or -1 = last, after the final norm) for ViT backbones, which
            output the raw tokens of every layer; for other backbones an index into their output tuple.
            Defaults to -1.
        use_local_neck (bool): Return the local projection of the stage the neck was trained on (without a
            config: the ResNet stage whose width matches the neck's input, or a ViT's last layer).
            Defaults to False.
        branch (str): ``'online'`` or ``'target'`` network. Defaults to 'online'.
        device (str or torch.device): Defaults to 'cpu'.
        local_level (int): Which local neck of a multi-level model (``local_neck`` a list). Defaults to
            -1 (the last, i.e. the deepest stage).
        num_heads (int, optional): Attention heads of a ViT built without a config (they leave no trace in
            the weights). Defaults to None: the backbone config a Runner checkpoint stores in
            ``meta['cfg']``, else an error.

    Returns:
        DenseFeatureExtractor: In eval mode, ``requires_grad`` off.
    """
    from mmpretrain.models import ResNet, VisionTransformer
    from mmpretrain.registry import MODELS

    import mmlc  # noqa: F401  (registers LocalProjectionNeck)

    state = load_checkpoint_state(checkpoint)
    backbone_state, neck_state = split_checkpoint_state(state, branch)
    if isinstance(config, str) and config != 'auto':
        config = Config.fromfile(config)
    model_cfg = config.model if isinstance(config, Config) else None

    if model_cfg is not None:
        backbone = model_cfg.backbone
        backbone_cfg = _to_bn(copy.deepcopy(backbone.to_dict() if hasattr(backbone, 'to_dict') else backbone))
        # mmpretrain configs keep it at the top level; the Runner copies it into the model.
        preproc = model_cfg.get('data_preprocessor', None) or config.get('data_preprocessor', None) or {}
        mean = preproc.get('mean', IMAGENET_MEAN)
        std = preproc.get('std', IMAGENET_STD)
        to_rgb = bool(preproc.get('to_rgb', preproc.get('bgr_to_rgb', True)))
    elif is_vit_state(backbone_state):
        backbone_cfg = infer_vit_config(backbone_state, _vit_num_heads(checkpoint, num_heads))
        mean, std, to_rgb = IMAGENET_MEAN, IMAGENET_STD, True
    else:
        backbone_cfg = infer_resnet_config(backbone_state)
        mean, std, to_rgb = IMAGENET_MEAN, IMAGENET_STD, True
    backbone_cfg.pop('init_cfg', None)  # never let a Pretrained init fetch other weights
    backbone_cfg.pop('pretrained', None)

    # ResNets (and subclasses: V1c, V1d, ResNeXt, ...) expose all four stages and ViTs the raw tokens of every
    # layer; remember which outputs the local neck was trained on.
    trained_indices: Optional[List[int]] = None
    backbone_cls = MODELS.get(backbone_cfg.get('type', ''))
    is_resnet = isinstance(backbone_cls, type) and issubclass(backbone_cls, ResNet)
    is_vit = isinstance(backbone_cls, type) and issubclass(backbone_cls, VisionTransformer)
    if is_resnet:
        trained_indices = list(backbone_cfg.get('out_indices', (3, )))
        backbone_cfg['out_indices'] = (0, 1, 2, 3)
    if is_vit:
        backbone_cfg['out_type'] = 'raw'
        # ln2 only serves out_type='avg_featmap' (a pooled vector), which dense features never use.
        backbone_state = {k: v for k, v in backbone_state.items() if not k.startswith('ln2.')}
        backbone_cfg.pop('frozen_stages', None)  # freezing is a training matter
    backbone = MODELS.build(backbone_cfg)
    if is_vit:  # out_indices as the ViT resolved them (negative ones made positive), then every layer
        trained_indices = list(backbone.out_indices)
        backbone.out_indices = list(range(backbone.num_layers))
    _load_strict(backbone, backbone_state, 'backbone')

    local_neck = None
    if use_local_neck:
        if not neck_state:
            raise KeyError(f'{checkpoint} has no {branch} local projection (local_neck.*); '
                           'it is not an mmlc checkpoint')
        neck_state = select_local_level(neck_state, local_level)
        neck_cfg = model_cfg.get('local_neck') if model_cfg is not None else None
        if isinstance(neck_cfg, (list, tuple)):
            neck_cfg = neck_cfg[local_level]
        if neck_cfg:
            neck_cfg = _to_bn(dict(neck_cfg))
        elif is_vit:  # no config: the neck reads the patch tokens of the last layer
            neck_cfg = infer_local_neck_config(neck_state, tokens=True)
            trained_indices = [backbone.num_layers - 1]
        else:  # no config: the neck reads the ResNet stage whose width matches its input channels
            neck_cfg = infer_local_neck_config(neck_state)
            neck_cfg['in_index'] = _stage_with_channels(backbone_state, neck_cfg['in_channels'])
        neck_cfg.pop('init_cfg', None)
        local_neck = MODELS.build(neck_cfg)
        _load_strict(local_neck, neck_state, 'local_neck')

    extractor = DenseFeatureExtractor(
        backbone, stage=stage, local_neck=local_neck, neck_inputs=trained_indices, mean=mean, std=std, to_rgb=to_rgb)
    extractor.requires_grad_(False)
    return extractor.to(device).eval()


def extractor_from_model(model: nn.Module,
                         stage: int = -1,
                         use_local_neck: bool = False,
                         branch: str = 'online',
                         local_level: int = -1) -> DenseFeatureExtractor:
    """Wrap the live parts of a (BYOL / BYOLLocalContrast) model without copying them.

    Args:
        model (nn.Module): Unwrapped model (``get_ori_model(runner.model)``) with ``backbone``,
            ``target_net`` (or MoCo v3's ``momentum_encoder``, DINO's ``teacher``) and, for mmlc, ``local_neck`` /
            ``target_local_neck``. A ViT backbone must output raw tokens or maps (``out_type='raw'`` or
            ``'featmap'``).
        stage (int): Index into the backbone's configured output tuple. Defaults to -1.
        use_local_neck (bool): Use the local projection. Defaults to False.
        branch (str): ``'online'`` or ``'target'``. Defaults to 'online'.
        local_level (int): Which neck of a multi-level ``local_neck`` list. Defaults to -1.

    Returns:
        DenseFeatureExtractor: Shares the model's modules; :meth:`DenseFeatureExtractor.extract` puts
        them in eval mode only for the call and restores their flags.
    """
    if branch == 'online':
        backbone, neck = model.backbone, getattr(model, 'local_neck', None)
    elif branch == 'target':
        # CosineEMA(Sequential(backbone, neck)): BYOL's `target_net`, MoCo v3's `momentum_encoder`, DINO's `teacher`.
        ema = next((getattr(model, n) for n in EMA_NAMES if hasattr(model, n)), None)
        if ema is None:
            raise ValueError(f'the model has no EMA branch (none of {EMA_NAMES}) to read as the target')
        backbone = ema.module[0]
        target_neck = getattr(model, 'target_local_neck', None)
        neck = target_neck.module if target_neck is not None else None
    else:
        raise ValueError(f"branch must be 'online' or 'target', got {branch!r}")
    if use_local_neck and neck is None:
        raise ValueError('use_local_neck=True but the model has no local neck')
    if isinstance(neck, nn.ModuleList):
        neck = neck[local_level]
    pre = getattr(model, 'data_preprocessor', None)
    if pre is None:  # a bare module: ImageNet statistics on RGB, as torchvision-style backbones expect
        mean, std, to_rgb = IMAGENET_MEAN, IMAGENET_STD, True
    else:  # exactly what the model's preprocessor feeds it; without mean / std that is the raw 0-255 values
        mean = pre.mean.flatten().tolist() if getattr(pre, 'mean', None) is not None else [0., 0., 0.]
        std = pre.std.flatten().tolist() if getattr(pre, 'std', None) is not None else [1., 1., 1.]
        to_rgb = bool(getattr(pre, '_channel_conversion', False))
    return DenseFeatureExtractor(
        backbone, stage=stage, local_neck=neck if use_local_neck else None, mean=mean, std=std, to_rgb=to_rgb)

# Copyright (c) mmlc contributors. All rights reserved.
"""Dense backbone features for the analyses, from a checkpoint file or from a live model.

Images travel as mmcv does: (H, W, 3) uint8 in BGR order. :class:`DenseFeatureExtractor` converts and
normalises them as the model's data preprocessor would, runs the backbone and returns one stage's
feature map (optionally after the local projection).
"""
import copy
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from torch import Tensor

from .weights import (infer_local_neck_config, infer_resnet_config, load_checkpoint_state, select_local_level,
                      split_checkpoint_state)

#: ImageNet mean/std in RGB order (mmpretrain's data preprocessors), used when no config says otherwise.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def images_to_tensor(images: Sequence[np.ndarray], mean: Sequence[float], std: Sequence[float],
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


class DenseFeatureExtractor(nn.Module):
    """Backbone (+ optional local projection) -> one dense feature map.

    Args:
        backbone (nn.Module): Returns a tuple of feature maps.
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
        outs = self.backbone(inputs)
        if self.local_neck is None:
            return outs[self.stage]
        if self.neck_inputs is not None:
            outs = tuple(outs[i] for i in self.neck_inputs)
        return self.local_neck(outs)[0]

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
        convs = [k for k in backbone_state if k.startswith(f'layer{stage}.') and k.endswith('.weight')
                 and backbone_state[k].dim() == 4 and '.downsample.' not in k]
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


def build_feature_extractor(checkpoint: str,
                            config: Optional[Union[str, Config]] = None,
                            stage: int = -1,
                            use_local_neck: bool = False,
                            branch: str = 'online',
                            device: Union[str, torch.device] = 'cpu',
                            local_level: int = -1) -> DenseFeatureExtractor:
    """Build a frozen feature extractor from any of the three checkpoint kinds.

    Args:
        checkpoint (str): mmlc / mmpretrain Runner checkpoint or torchvision ResNet state dict.
        config (str or Config, optional): Config whose ``model.backbone`` (and ``model.local_neck``,
            ``model.data_preprocessor``) describe the network. ``None`` or ``'auto'``: a plain mmpretrain
            ResNet inferred from the weights, ImageNet normalisation. Defaults to None.
        stage (int): ResNet stage 0-3 (or -1 = last) for ResNet backbones, whose ``out_indices`` are set
            to all four stages; for other backbones an index into their output tuple. Defaults to -1.
        use_local_neck (bool): Return the local projection of the stage the neck was trained on.
            Defaults to False.
        branch (str): ``'online'`` or ``'target'`` network. Defaults to 'online'.
        device (str or torch.device): Defaults to 'cpu'.
        local_level (int): Which local neck of a multi-level model (``local_neck`` a list). Defaults to
            -1 (the last, i.e. the deepest stage).

    Returns:
        DenseFeatureExtractor: In eval mode, ``requires_grad`` off.
    """
    from mmpretrain.models import ResNet
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
    else:
        backbone_cfg = infer_resnet_config(backbone_state)
        mean, std, to_rgb = IMAGENET_MEAN, IMAGENET_STD, True
    backbone_cfg.pop('init_cfg', None)  # never let a Pretrained init fetch other weights
    backbone_cfg.pop('pretrained', None)

    # ResNets (and subclasses: V1c, V1d, ResNeXt, ...): expose all four stages; remember which ones the
    # local neck was trained on.
    trained_indices: Optional[List[int]] = None
    backbone_cls = MODELS.get(backbone_cfg.get('type', ''))
    if isinstance(backbone_cls, type) and issubclass(backbone_cls, ResNet):
        trained_indices = list(backbone_cfg.get('out_indices', (3, )))
        backbone_cfg['out_indices'] = (0, 1, 2, 3)
    backbone = MODELS.build(backbone_cfg)
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
        else:  # no config: the neck reads the ResNet stage whose width matches its input channels
            neck_cfg = infer_local_neck_config(neck_state)
            neck_cfg['in_index'] = _stage_with_channels(backbone_state, neck_cfg['in_channels'])
        neck_cfg.pop('init_cfg', None)
        local_neck = MODELS.build(neck_cfg)
        _load_strict(local_neck, neck_state, 'local_neck')

    extractor = DenseFeatureExtractor(backbone, stage=stage, local_neck=local_neck,
                                      neck_inputs=trained_indices, mean=mean, std=std, to_rgb=to_rgb)
    extractor.requires_grad_(False)
    return extractor.to(device).eval()


def extractor_from_model(model: nn.Module, stage: int = -1, use_local_neck: bool = False,
                         branch: str = 'online', local_level: int = -1) -> DenseFeatureExtractor:
    """Wrap the live parts of a (BYOL / BYOLLocalContrast) model without copying them.

    Args:
        model (nn.Module): Unwrapped model (``get_ori_model(runner.model)``) with ``backbone``,
            ``target_net`` and, for mmlc, ``local_neck`` / ``target_local_neck``.
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
        backbone = model.target_net.module[0]
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
    return DenseFeatureExtractor(backbone, stage=stage, local_neck=neck if use_local_neck else None,
                                 mean=mean, std=std, to_rgb=to_rgb)

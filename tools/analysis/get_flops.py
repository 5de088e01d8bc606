# Copyright (c) mmlc contributors. All rights reserved.
"""FLOPs and parameters of a pretraining config's model, per part, for one training view.

    python tools/analysis/get_flops.py CONFIG [--size 224]

Counts with mmengine's ``get_model_complexity_info`` (fvcore's jit-traced counter): one FLOP is one
multiply-add, convolution and linear biases are not counted, a BatchNorm in eval mode counts 2 per element,
ReLU, pooling and additions nothing. Each part is traced alone on what it receives in training: the backbone
on one (1, 3, size, size) view, the global projector (``neck``) on the last stage, the predictor
(``head.predictor``) on the projection, every local projector on its backbone stage. The loss functions
(cosine, LC-loss: an h*w x h*w similarity per image) are not counted; at 7 x 7 the LC-loss is < 0.1% of the
backbone.

The training-step estimate per image (two views) takes backward = 2 x forward for the online network and one
forward for the EMA target: ``8 (backbone + neck) + 6 predictor + 4 local`` forward FLOPs per image (local:
online projector on I_sc, target projector on I_c; twice that with ``symmetric=True``).
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
import torch.nn as nn

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='FLOPs and parameters per image of a pretraining model')
    parser.add_argument('config', help='pretraining config (BYOL, BYOL + LC, ...)')
    parser.add_argument('--size', type=int, default=224, help='side of the square training view (default 224)')
    return parser.parse_args(argv)


def count(module: nn.Module, *inputs) -> Dict[str, int]:
    """Forward FLOPs (multiply-adds) of ``module(*inputs)`` and its parameter count."""
    from mmengine.analysis import get_model_complexity_info
    info = get_model_complexity_info(module, inputs=inputs, show_table=False, show_arch=False)
    return dict(flops=int(info['flops']), params=sum(p.numel() for p in module.parameters()))


def build_model(config: str) -> nn.Module:
    """The config's model in eval mode, SyncBN reverted to BN (one process), as the Runner builds it."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmlc  # noqa: F401

    MMLogger.get_instance('get_flops', log_level='ERROR')  # the counter's "unsupported operator" notes
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return revert_sync_batchnorm(MODELS.build(cfg.model)).eval()


@torch.no_grad()
def model_flops(model: nn.Module, size: int) -> Dict[str, object]:
    """Forward FLOPs and parameters of each part for one ``size`` x ``size`` view, and the step estimate.

    Returns:
        dict: ``parts``: list of (name, input shape, flops, params); ``view``: forward FLOPs of one view
        through the online network; ``step_global`` / ``step_local`` / ``step``: the estimated training-step
        FLOPs per image (see the module docstring).
    """
    img = torch.randn(1, 3, size, size)
    feats = model.backbone(img)  # tuple of (1, C_s, h_s, w_s)
    proj = model.neck(feats[-1:])[0]  # (1, D)
    parts = [('backbone', tuple(img.shape), count(model.backbone, img)),
             ('neck (global projector)', tuple(feats[-1].shape), count(model.neck, feats[-1:])),
             ('head.predictor', tuple(proj.shape), count(model.head.predictor, (proj, )))]
    local = getattr(model, 'local_neck', None)
    necks = [] if local is None else list(local) if isinstance(local, nn.ModuleList) else [local]
    for level, neck in enumerate(necks):
        name = 'local_neck' if len(necks) == 1 else f'local_neck.{level}'
        parts.append((name, tuple(feats[neck.in_index].shape), count(neck, feats)))
    flops = {name: c['flops'] for name, _, c in parts}
    local_flops = sum(f for name, f in flops.items() if name.startswith('local_neck'))
    step_global = 8 * (flops['backbone'] + flops['neck (global projector)']) + 6 * flops['head.predictor']
    branch = getattr(model, 'local_branch', None)  # mmlc's LocalBranch holds the symmetric option
    step_local = 4 * local_flops * (2 if branch is not None and branch.symmetric else 1)
    return dict(
        parts=[(name, shape, c['flops'], c['params']) for name, shape, c in parts],
        view=sum(flops.values()),
        step_global=step_global,
        step_local=step_local,
        step=step_global + step_local)


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    args = parse_args(argv)
    model = build_model(args.config)
    result = model_flops(model, args.size)
    rows = [[name, 'x'.join(map(str, shape)), f'{flops / 1e9:.4f}', f'{params / 1e6:.3f}']
            for name, shape, flops, params in result['parts']]
    head = ['part', 'input', 'GFLOPs (forward, one view)', 'params (M)']
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda r: '| ' + ' | '.join(str(x).ljust(w) for x, w in zip(r, widths)) + ' |'  # noqa: E731
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines = [
        f'{args.config}: {type(model).__name__}, {args.size} x {args.size} px views, '
        '1 FLOP = 1 multiply-add (mmengine get_model_complexity_info)', '',
        fmt(head), '|' + '|'.join('-' * (w + 2) for w in widths) + '|'
    ] + [fmt(r) for r in rows] + [
        '',
        f'one view through the online network: {result["view"] / 1e9:.3f} GFLOPs; trainable parameters '
        f'{trainable / 1e6:.2f} M (EMA target not counted)',
        f'training step per image (2 views, backward = 2 x forward, EMA target forward only): '
        f'{result["step"] / 1e9:.2f} GFLOPs (global {result["step_global"] / 1e9:.2f} + local '
        f'{result["step_local"] / 1e9:.2f})',
    ]
    print('\n'.join(lines))
    return result


if __name__ == '__main__':
    main()

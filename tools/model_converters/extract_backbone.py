# Copyright (c) mmlc contributors. All rights reserved.
"""Export the backbone (ResNet or ViT) of an mmlc pretraining checkpoint for downstream use.

    python tools/model_converters/extract_backbone.py CKPT OUT [--source online|target]
        [--format mmpretrain|torchvision|detectron2|mmseg-vit] [--keep-prefix]

Formats (see mmlc/downstream/checkpoint_convert.py for the key layouts):
  mmpretrain   a dict of tensors, ``conv1.weight`` ... (``backbone.conv1.weight`` with --keep-prefix, what
               mmdet/mmseg's ``init_cfg=dict(type='Pretrained', prefix='backbone.')`` selects);
               loads with ``torch.load(OUT, weights_only=True)``.
  torchvision  the same tensors checked against torchvision's ResNet layout: load with
               ``resnet50().load_state_dict(sd, strict=False)`` (only ``fc.*`` missing).
  detectron2   a pickle ``{'model': {...numpy...}, '__author__': 'mmlc', 'matching_heuristics': True}``
               for ``MODEL.WEIGHTS`` (write it as ``*.pkl``).
  mmseg-vit    a ViT backbone (mmpretrain ``VisionTransformer`` / ``MoCoV3ViT``) as a dict of tensors in mmseg's
               ``VisionTransformer`` layout (``attn.qkv`` -> ``attn.attn.in_proj_*``, ...), for
               ``backbone.init_cfg=dict(type='Pretrained', checkpoint=OUT)``; the tool prints the mmseg
               arguments the weights fix (the head count is not among them).

CKPT is read with ``weights_only=True``; ``import mmlc`` allow-lists the few mmengine types a full
Runner checkpoint holds, and nothing else.
"""

import argparse
import os
import os.path as osp
import pickle
import sys

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install

import mmlc  # noqa: E402,F401  (the weights_only allow-list for Runner checkpoints)
from mmlc.downstream import (extract_backbone, mmseg_vit_args, runner_state_dict, to_detectron2, to_mmseg_vit,
                             to_torchvision)

FORMATS = ('mmpretrain', 'torchvision', 'detectron2', 'mmseg-vit')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Extract the backbone of an mmlc pretraining checkpoint')
    parser.add_argument('checkpoint', help='full Runner checkpoint (or a state dict) written by tools/train.py')
    parser.add_argument('out', help='output file (.pth, or .pkl for detectron2)')
    parser.add_argument(
        '--source',
        choices=['online', 'target'],
        default='online',
        help='the online backbone (default, what the paper transfers) or the EMA target')
    parser.add_argument('--format', choices=FORMATS, default='mmpretrain', help='output key layout')
    parser.add_argument(
        '--keep-prefix',
        action='store_true',
        help='mmpretrain format only: keep keys as backbone.* (for prefix=\'backbone.\')')
    args = parser.parse_args(argv)
    if args.keep_prefix and args.format != 'mmpretrain':
        parser.error('--keep-prefix applies to --format mmpretrain only')
    return args


def convert(checkpoint: dict, fmt: str, source: str = 'online', keep_prefix: bool = False) -> dict:
    """The object to write for one output format (see the module docstring)."""
    backbone = extract_backbone(runner_state_dict(checkpoint), source, keep_prefix=keep_prefix)
    if fmt == 'torchvision':
        return to_torchvision(backbone)
    if fmt == 'detectron2':
        return to_detectron2(backbone)
    if fmt == 'mmseg-vit':
        return to_mmseg_vit(backbone)
    return backbone


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = torch.load(args.checkpoint, map_location='cpu', weights_only=True)
    out = convert(checkpoint, args.format, args.source, args.keep_prefix)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if args.format == 'detectron2':
        with open(args.out, 'wb') as f:
            pickle.dump(out, f)
        n = len(out['model'])
    else:
        torch.save(out, args.out)
        n = len(out)
    print(f'wrote {n} {args.source} backbone tensors ({args.format} layout) to {args.out}')
    if args.format == 'mmseg-vit':
        fixed = mmseg_vit_args(extract_backbone(runner_state_dict(checkpoint), args.source))
        print('mmseg VisionTransformer arguments fixed by the weights: ' + ', '.join(f'{k}={v}'
                                                                                     for k, v in fixed.items()) +
              "; also norm_cfg=dict(type='LN', eps=1e-6) and num_heads as in pretraining")


if __name__ == '__main__':
    main()

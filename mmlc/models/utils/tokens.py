# Copyright (c) mmlc contributors. All rights reserved.
"""Vision-transformer token sequences as dense maps, for the local branch and the analyses.

mmpretrain 1.2.0's ``VisionTransformer(out_type='raw')`` returns, per output layer, the whole token sequence
(B, N, C): the ``num_extra_tokens`` extra tokens first (the class token; DeiT's distillation token after it,
``num_extra_tokens`` = 2; none when ``with_cls_token=False``), then the h x w patch tokens in row-major order
(the order ``PatchEmbed``'s ``flatten(2).transpose(1, 2)`` produces). ``'raw'`` does not return the patch grid,
and the grid of a non-square input cannot be read off N, so callers pass it (:func:`patch_grid_size`).
"""
from typing import Sequence, Tuple

import torch.nn as nn
from torch import Tensor


def patch_tokens_to_map(tokens: Tensor, patch_grid: Sequence[int], num_extra_tokens: int = 1) -> Tensor:
    """Drop the extra tokens of a ViT token sequence and lay its patch tokens out on their grid.

    The inverse of ``PatchEmbed``'s flattening and the same layout as mmpretrain's ``out_type='featmap'``:
    patch token ``k`` sits at row ``k // w``, column ``k % w``.

    Args:
        tokens (Tensor): (B, num_extra_tokens + h * w, C), extra (class / distillation) tokens first.
        patch_grid (Sequence[int]): (h, w), the patch grid of the input.
        num_extra_tokens (int): Leading tokens that are not patches (1: the class token). Defaults to 1.

    Returns:
        Tensor: (B, C, h, w), contiguous.

    Raises:
        ValueError: ``tokens`` is not 3-D, or its length is not ``num_extra_tokens + h * w``.
    """
    if tokens.dim() != 3:
        raise ValueError(f'tokens must be (B, N, C), got shape {tuple(tokens.shape)}')
    if len(patch_grid) != 2 or min(patch_grid) < 1:
        raise ValueError(f'patch_grid must be (h, w) with h, w >= 1, got {patch_grid!r}')
    if num_extra_tokens < 0:
        raise ValueError(f'num_extra_tokens must be >= 0, got {num_extra_tokens}')
    h, w = int(patch_grid[0]), int(patch_grid[1])
    b, n, c = tokens.shape
    if n != num_extra_tokens + h * w:
        raise ValueError(f'{n} tokens do not hold {num_extra_tokens} extra tokens and a {h}x{w} patch grid '
                         f'({num_extra_tokens + h * w} tokens)')
    patches = tokens[:, num_extra_tokens:]  # (B, h*w, C)
    return patches.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()  # (B, h, w, C) -> (B, C, h, w)


def square_patch_grid(num_tokens: int, num_extra_tokens: int = 1) -> Tuple[int, int]:
    """The (s, s) grid of a square input's token sequence.

    Args:
        num_tokens (int): N, the sequence length including the extra tokens.
        num_extra_tokens (int): Leading non-patch tokens. Defaults to 1.

    Returns:
        tuple[int, int]: (s, s) with s * s = N - num_extra_tokens.

    Raises:
        ValueError: N - num_extra_tokens is not a positive perfect square.
    """
    patches = num_tokens - num_extra_tokens
    side = int(round(patches**0.5)) if patches > 0 else 0
    if side < 1 or side * side != patches:
        raise ValueError(f'{num_tokens} tokens minus {num_extra_tokens} extra ones is not a square patch grid; '
                         'pass the grid explicitly (non-square inputs)')
    return side, side


def patch_grid_size(patch_embed: nn.Module, input_hw: Sequence[int]) -> Tuple[int, int]:
    """The patch grid mmcv's ``PatchEmbed`` (mmpretrain's ViTs) makes of an input of size (H, W).

    Mirrors ``PatchEmbed``: the optional corner/same ``AdaptivePadding`` first pads H and W up to what the
    stride needs, then the projection convolution's output size follows the usual formula. For the default
    16 x 16 patches that is (ceil(H / 16), ceil(W / 16)), e.g. (14, 14) at 224 px.

    Args:
        patch_embed (nn.Module): The backbone's ``patch_embed`` (with ``projection`` and
            ``adaptive_padding``).
        input_hw (Sequence[int]): (H, W) of the image batch.

    Returns:
        tuple[int, int]: (h, w) of the patch grid.
    """
    h, w = int(input_hw[0]), int(input_hw[1])
    padding = getattr(patch_embed, 'adaptive_padding', None)
    if padding is not None:
        pad_h, pad_w = padding.get_pad_shape((h, w))
        h, w = h + pad_h, w + pad_w
    conv = patch_embed.projection
    return tuple(
        (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
        for size, k, stride, pad, dil in zip((h, w), conv.kernel_size, conv.stride, conv.padding, conv.dilation))

# Copyright (c) mmlc contributors. All rights reserved.
import copy
from typing import List, Sequence, Union

from mmcv.transforms import BaseTransform, Compose
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS

from .paired_correspondence import PairedCorrespondenceTransform

#: What the paired pipeline records and this wrapper passes on (``PackInputs(algorithm_keys=...)``).
RECORD_KEYS = ('sc_box', 'sc_flip', 'src_shape')


def _is_paired(transform: Union[dict, BaseTransform]) -> bool:
    """Whether a transform (or its config) is a :class:`PairedCorrespondenceTransform`."""
    if isinstance(transform, dict):
        return str(transform.get('type', '')).split('.')[-1] == PairedCorrespondenceTransform.__name__
    return isinstance(transform, PairedCorrespondenceTransform)


def _compose(transforms: Sequence[Union[dict, BaseTransform]]) -> Compose:
    """Compose configs in mmpretrain's scope (as mmpretrain's ``MultiView`` is built), whatever the caller's."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose(copy.deepcopy(list(transforms)))


@TRANSFORMS.register_module()
class PairedMultiCrop(BaseTransform):
    """DINO's multi-crop with LC-loss's pair as the two global views: ``[I_c, I_sc, local_1, ..., local_N]``.

    mmpretrain's ``MultiView`` cannot carry the pair: it keeps only ``img`` from each pipeline, so the crop record
    of I_sc would be lost, and it would nest the pair's two images as one view. This wrapper runs the paired
    pipeline once on a copy of the input (its :class:`PairedCorrespondenceTransform` makes I_c, the whole image
    resized with colour transforms only, and I_sc, a random resized crop maybe flipped, with colour transforms),
    then the local pipeline ``num_local_crops`` times, each on a fresh copy of the *input* image (as DINO's local
    crops are independent crops of the original image, not of I_sc). Random draws are made in that order, so the
    first two views and the records are exactly what the paired pipeline alone makes from the same random state.

    ``transforms`` has ``MultiView``'s layout (a list of pipelines, each a list of transforms), so tools that walk
    nested pipelines (e.g. the mini study's view-size setter) see both the pair's and the local crops' transforms.

    Required Keys:

    - img

    Modified Keys:

    - img: becomes ``[I_c, I_sc, local_1, ..., local_N]``: two (size, size, 3) global views, then the local
      pipeline's outputs
    - img_shape: (size, size) of the global views

    Added Keys:

    - sc_box, sc_flip, src_shape: the crop record of I_sc, as :class:`PairedCorrespondenceTransform` adds them

    Pack the added keys with ``PackInputs(algorithm_keys=['sc_box', 'sc_flip', 'src_shape'])``.

    Args:
        transforms (list[list[dict]]): Two pipelines: the paired one, which holds exactly one
            ``PairedCorrespondenceTransform`` (usually it alone), and the local-crop one (e.g. DINO's
            ``RandomResizedCrop`` at 96 px, flip and colour transforms).
        num_local_crops (int): How many local crops, >= 0. Defaults to 8 (DINO's default).
    """

    def __init__(self, transforms: List[List[Union[dict, BaseTransform]]], num_local_crops: int = 8) -> None:
        if not (isinstance(transforms, (list, tuple)) and len(transforms) == 2
                and all(isinstance(p, (list, tuple)) for p in transforms)):
            raise ValueError('transforms must be two pipelines (lists of transforms): [paired pipeline, local '
                             f'pipeline], got {transforms!r}')
        paired = sum(_is_paired(t) for t in transforms[0])
        if paired != 1:
            raise ValueError(f'the first pipeline must hold exactly one PairedCorrespondenceTransform, got {paired}')
        if any(_is_paired(t) for t in transforms[1]):
            raise ValueError('the local pipeline must not hold a PairedCorrespondenceTransform')
        if not (isinstance(num_local_crops, int) and not isinstance(num_local_crops, bool) and num_local_crops >= 0):
            raise ValueError(f'num_local_crops must be an int >= 0, got {num_local_crops!r}')
        self.num_local_crops = num_local_crops
        self.paired_pipeline = _compose(transforms[0])
        self.local_pipeline = _compose(transforms[1])

    def transform(self, results: dict) -> dict:
        """Make the pair, then the local crops.

        Args:
            results (dict): Result dict with ``img`` (H, W, 3).

        Returns:
            dict: The updated result dict.
        """
        paired = self.paired_pipeline(copy.deepcopy(results))
        if paired is None or not (isinstance(paired['img'], list) and len(paired['img']) == 2):
            raise RuntimeError(f'the paired pipeline must return [I_c, I_sc] (sample {results.get("img_path")})')
        local = []
        for _ in range(self.num_local_crops):
            out = self.local_pipeline(copy.deepcopy(results))
            if out is None:
                raise RuntimeError(f'a local-crop transform dropped the sample {results.get("img_path")}; '
                                   'view pipelines must not filter samples')
            local.append(out['img'])
        results['img'] = [*paired['img'], *local]
        results['img_shape'] = paired['img_shape']
        for key in RECORD_KEYS:
            results[key] = paired[key]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(paired_pipeline={self.paired_pipeline}, '
                f'local_pipeline={self.local_pipeline}, num_local_crops={self.num_local_crops})')

# Copyright (c) mmlc contributors. All rights reserved.
"""Correspondence accuracy (paper §4.6, "More Analysis on Correspondence").

Two kinds of view pairs:

- ``'flip'`` (the paper's test): I_1 = the image with colour transforms, I_2 = its horizontal flip with
  independent colour transforms. Cell (y, x) of I_1 is correct when its best match in I_2 is the
  mirrored cell (y, w - 1 - x).
- ``'crop'``: I_1 = the whole image (colour only), I_2 = a random resized crop, possibly flipped, made
  by :class:`~mmlc.datasets.PairedCorrespondenceTransform`; a match is correct when it lies in the
  I_2 cell containing the true corresponding point, and cells whose point falls outside I_2 are not
  counted.

Every pair is made from its own seed (derived from ``seed`` and the image's index), so results do not
depend on batching or on the global random state, which is saved and restored.
"""
import copy
import random
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from torch import Tensor

from ..datasets.transforms.paired_correspondence import (BYOL_VIEW1_COLOUR, PairedCorrespondenceTransform,
                                                         build_colour_pipeline)
from ..models.utils import correspondence_grid
from .features import DenseFeatureExtractor
from .image_io import resize_square
from .matching import containing_cell_index, cosine_similarity_maps, match_accuracy, mirrored_cell_index

#: The §4.6 colour transforms: colour jitter (p=0.8), random grayscale (p=0.2), Gaussian blur. These
#: are BYOL's view-1 colour augmentations, which have no solarisation.
FLIP_TEST_COLOUR: List[dict] = copy.deepcopy(BYOL_VIEW1_COLOUR)

MODES = ('flip', 'crop')
COLOUR_VIEWS = ('both', 'second')


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed numpy's and Python's global generators (mmcv transforms draw from them), then restore."""
    np_state, py_state = np.random.get_state(), random.getstate()
    np.random.seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def pair_seed(seed: int, index: int) -> int:
    """Independent 32-bit seed for image ``index`` under run seed ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


@dataclass
class ViewPair:
    """Two views of one image and how they correspond.

    Attributes:
        view1 (np.ndarray): (S, S, 3) uint8 BGR, I_1.
        view2 (np.ndarray): (S, S, 3) uint8 BGR, I_2.
        mode (str): ``'flip'`` or ``'crop'``.
        sc_box (np.ndarray, optional): (4,) crop of I_2 in the source image (``'crop'`` only).
        sc_flip (bool): Whether I_2 is mirrored (always True for ``'flip'``).
        src_shape (tuple[int, int]): (H, W) of the source image.
        name (str): Where the image came from.
    """

    view1: np.ndarray
    view2: np.ndarray
    mode: str
    sc_box: Optional[np.ndarray] = None
    sc_flip: bool = True
    src_shape: Tuple[int, int] = (0, 0)
    name: str = ''

    def _grid(self, feat_size1: Sequence[int]) -> Tensor:
        """(1, h1, w1, 2) I_1 cell centres in I_2's ``grid_sample`` coordinates."""
        if self.mode == 'flip':  # the whole view, mirrored
            s = self.view1.shape
            box, src = torch.tensor([[0., 0., s[1], s[0]]]), torch.tensor([s[:2]])
        else:
            box, src = torch.as_tensor(self.sc_box, dtype=torch.float32)[None], torch.tensor([self.src_shape])
        return correspondence_grid(box, torch.tensor([self.sc_flip]), src, tuple(feat_size1))

    def targets(self, feat_size1: Sequence[int], feat_size2: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """The correct I_2 cell of each I_1 cell.

        Args:
            feat_size1 (Sequence[int]): (h1, w1) of I_1's map.
            feat_size2 (Sequence[int]): (h2, w2) of I_2's map.

        Returns:
            tuple[Tensor, Tensor]: (h1*w1,) long flat indices into I_2's map and (h1*w1,) bool validity.
        """
        if self.mode == 'flip':
            if tuple(feat_size1) != tuple(feat_size2):
                raise ValueError(f'flip pairs need equal maps, got {tuple(feat_size1)} and '
                                 f'{tuple(feat_size2)}')
            h, w = feat_size1
            return mirrored_cell_index(h, w), torch.ones(h * w, dtype=torch.bool)
        index, valid = containing_cell_index(self._grid(feat_size1), feat_size2)
        return index[0], valid[0]

    def true_points(self, feat_size1: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Where each I_1 cell centre truly lands in I_2, in I_2 pixels (for drawing).

        Returns:
            tuple[np.ndarray, np.ndarray]: (h1*w1, 2) points (x, y) and (h1*w1,) bool inside I_2.
        """
        grid = self._grid(feat_size1)[0].reshape(-1, 2)  # (h1*w1, 2)
        valid = (grid.abs() <= 1).all(-1)
        size = torch.tensor([self.view2.shape[1], self.view2.shape[0]], dtype=torch.float32)
        return ((grid + 1) / 2 * size).numpy(), valid.numpy()


def make_flip_pair(img: np.ndarray,
                   size: int,
                   colour: Sequence[dict],
                   seed: int,
                   name: str = '',
                   colour_first: bool = True) -> ViewPair:
    """The paper's pair: I_1 = colour(resize(img)), I_2 = colour'(flip(resize(img))).

    Args:
        img (np.ndarray): (H, W, 3) uint8 BGR.
        size (int): Side of both (square) views.
        colour (Sequence[dict]): mmcv colour transform configs, applied independently to each view.
        seed (int): Seed of this pair.
        name (str): Image name. Defaults to ''.
        colour_first (bool): Also colour-transform I_1; False leaves it as the resized image (§4.6 read
            literally: "we flip the image ... and apply color transformations"). Defaults to True.

    Returns:
        ViewPair: ``mode='flip'``.
    """
    base = resize_square(img, size)
    pipeline = build_colour_pipeline(colour)
    with seeded(seed):
        views = [
            pipeline(dict(img=v.copy(), img_shape=v.shape[:2]))['img']
            for v in (base, mmcv.imflip(base, direction='horizontal'))
        ]
    if not colour_first:  # the colour draws of I_2 stay those of the default protocol
        views[0] = base
    return ViewPair(views[0], views[1], 'flip', sc_flip=True, src_shape=tuple(img.shape[:2]), name=name)


def make_crop_pair(img: np.ndarray, transform: PairedCorrespondenceTransform, seed: int, name: str = '') -> ViewPair:
    """A training-style pair (I_c, I_sc) from :class:`PairedCorrespondenceTransform`.

    Args:
        img (np.ndarray): (H, W, 3) uint8 BGR.
        transform (PairedCorrespondenceTransform): Makes the views and records the crop and flip.
        seed (int): Seed of this pair.
        name (str): Image name. Defaults to ''.

    Returns:
        ViewPair: ``mode='crop'``.
    """
    with seeded(seed):
        out = transform(dict(img=img, img_shape=img.shape[:2]))
    view1, view2 = out['img']
    return ViewPair(
        view1,
        view2,
        'crop',
        sc_box=np.asarray(out['sc_box'], dtype=np.float32),
        sc_flip=bool(out['sc_flip']),
        src_shape=tuple(out['src_shape']),
        name=name)


def prepare_pairs(images: Sequence[np.ndarray],
                  mode: str = 'flip',
                  size: int = 224,
                  colour: bool = True,
                  seed: int = 0,
                  crop_scale: Tuple[float, float] = (0.08, 1.0),
                  names: Optional[Sequence[str]] = None,
                  colour_views: str = 'both') -> List[ViewPair]:
    """One view pair per image, reproducibly.

    Args:
        images (Sequence[np.ndarray]): (H, W, 3) uint8 BGR images.
        mode (str): ``'flip'`` or ``'crop'``. Defaults to 'flip'.
        size (int): View side. Defaults to 224.
        colour (bool): Apply :data:`FLIP_TEST_COLOUR` to each view (independently). Defaults to True.
        seed (int): Run seed; image i uses ``pair_seed(seed, i)``. Defaults to 0.
        crop_scale (tuple[float, float]): Crop area range of ``'crop'`` pairs. Defaults to (0.08, 1.0).
        names (Sequence[str], optional): Image names. Defaults to None.
        colour_views (str): ``'both'``: each view gets its own colour transforms; ``'second'``: only I_2 (the
            flipped or cropped view), I_1 stays as resized — the literal reading of §4.6. An evaluation protocol,
            never to be chosen by the score it gives. Defaults to 'both'.

    Returns:
        list[ViewPair]: One per image.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    if colour_views not in COLOUR_VIEWS:
        raise ValueError(f'colour_views must be one of {COLOUR_VIEWS}, got {colour_views!r}')
    colour_cfg = FLIP_TEST_COLOUR if colour else []
    first = colour_views == 'both'
    names = list(names) if names is not None else [str(i) for i in range(len(images))]
    if mode == 'crop':
        transform = PairedCorrespondenceTransform(
            size=size, scale=crop_scale, flip_prob=0.5, c_pipeline=colour_cfg if first else [], sc_pipeline=colour_cfg)
        return [make_crop_pair(img, transform, pair_seed(seed, i), names[i]) for i, img in enumerate(images)]
    return [
        make_flip_pair(img, size, colour_cfg, pair_seed(seed, i), names[i], colour_first=first)
        for i, img in enumerate(images)
    ]


@dataclass
class PairResult:
    """Matching outcome of one pair.

    Attributes:
        name (str): Image name.
        pred (Tensor): (N1,) predicted flat index into I_2's map for each I_1 cell.
        target (Tensor): (N1,) correct flat index.
        valid (Tensor): (N1,) bool, cells that have a correspondence.
        accuracy (float): Fraction of valid cells predicted correctly (NaN if none is valid).
        feat_size1 (tuple[int, int]): (h1, w1).
        feat_size2 (tuple[int, int]): (h2, w2).
        similarity (Tensor, optional): (N1, N2) cosine similarities, when requested.
    """

    name: str
    pred: Tensor
    target: Tensor
    valid: Tensor
    accuracy: float
    feat_size1: Tuple[int, int]
    feat_size2: Tuple[int, int]
    similarity: Optional[Tensor] = field(default=None, repr=False)

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())

    @property
    def num_correct(self) -> int:
        return int(((self.pred == self.target) & self.valid).sum())

    @property
    def num_same_position(self) -> int:
        """Valid cells matched to the cell at their own position (y, x) of I_2: the signature of features that
        encode position (e.g. through zero padding) instead of content.

        For flip pairs of even width that cell is
        never the correct one; 0 when the two maps differ in size.
        """
        if self.feat_size1 != self.feat_size2:
            return 0
        own = torch.arange(self.pred.numel(), device=self.pred.device)  # (N1,)
        return int(((self.pred == own) & self.valid).sum())


def evaluate_pairs(extractor: DenseFeatureExtractor,
                   pairs: Sequence[ViewPair],
                   batch_size: int = 8,
                   progress: bool = False,
                   keep_similarity: bool = False) -> List[PairResult]:
    """Match every I_1 cell to its most similar I_2 cell and score it.

    Args:
        extractor (DenseFeatureExtractor): Feature extractor (run in eval mode, no gradients).
        pairs (Sequence[ViewPair]): Pairs of one view size.
        batch_size (int): Pairs per forward pass. Defaults to 8.
        progress (bool): Show a progress bar. Defaults to False.
        keep_similarity (bool): Keep each pair's similarity matrix. Defaults to False.

    Returns:
        list[PairResult]: One per pair, in order.
    """
    from mmengine.utils import ProgressBar
    bar = ProgressBar(len(pairs), file=sys.stderr) if progress else None
    results: List[PairResult] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        feats = extractor.extract([p.view1 for p in chunk] + [p.view2 for p in chunk])  # (2b, C, h, w)
        feat1, feat2 = feats[:len(chunk)], feats[len(chunk):]
        sim = cosine_similarity_maps(feat1, feat2)  # (b, N1, N2)
        pred = sim.argmax(dim=-1)  # (b, N1), ties -> lowest index
        size1, size2 = tuple(feat1.shape[-2:]), tuple(feat2.shape[-2:])
        for k, pair in enumerate(chunk):
            target, valid = pair.targets(size1, size2)
            acc, _ = match_accuracy(pred[k:k + 1], target, valid)
            results.append(
                PairResult(pair.name, pred[k], target, valid, float(acc[0]), size1, size2,
                           sim[k] if keep_similarity else None))
            if bar is not None:
                bar.update()
    if bar is not None:
        print(file=sys.stderr, flush=True)
    return results


def summarise(results: Sequence[PairResult]) -> Dict[str, float]:
    """Data-set accuracy and per-image spread.

    Args:
        results (Sequence[PairResult]): From :func:`evaluate_pairs`.

    Returns:
        dict[str, float]: ``accuracy`` (correct / valid over all cells of all images),
        ``same_position_rate`` (cells matched to their own position / valid cells, see
        :attr:`PairResult.num_same_position`), ``image_mean``, ``image_std`` (population std), ``image_min``,
        ``image_median``, ``image_max`` (over images with at least one valid cell), ``num_images``,
        ``num_scored_images``, ``num_cells``.
    """
    accs = np.array([r.accuracy for r in results if r.num_valid > 0], dtype=np.float64)
    cells = sum(r.num_valid for r in results)
    correct = sum(r.num_correct for r in results)
    same = sum(r.num_same_position for r in results)
    nan = float('nan')
    return dict(
        accuracy=correct / cells if cells else nan,
        same_position_rate=same / cells if cells else nan,
        image_mean=float(accs.mean()) if accs.size else nan,
        image_std=float(accs.std()) if accs.size else nan,
        image_min=float(accs.min()) if accs.size else nan,
        image_median=float(np.median(accs)) if accs.size else nan,
        image_max=float(accs.max()) if accs.size else nan,
        num_images=len(results),
        num_scored_images=int(accs.size),
        num_cells=int(cells))

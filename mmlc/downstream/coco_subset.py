# Copyright (c) mmlc contributors. All rights reserved.
"""Random image subsets of a COCO annotation file (the paper's Table 9: 5% / 10% of train2017)."""

import random
from typing import Any, Dict


def sample_coco_subset(coco: Dict[str, Any], fraction: float, seed: int = 0) -> Dict[str, Any]:
    """Keep a seeded random ``fraction`` of the images of a COCO annotation dict, with their annotations.

    Images are drawn uniformly without replacement from the images sorted by id, so a (file, fraction,
    seed) triple always gives the same subset whatever the file's image order. Categories, ``info`` and
    ``licenses`` are kept whole; images with no annotation can be drawn (the dataset's
    ``filter_empty_gt`` drops them at training time, as for the full set).

    Args:
        coco (dict): A COCO ``instances_*.json``/``person_keypoints_*.json`` dict with ``images`` and
            ``annotations``.
        fraction (float): Share of the images to keep, in (0, 1].
        seed (int): Seed of the draw. Defaults to 0.

    Returns:
        dict: A new dict with ``round(fraction * n_images)`` images (at least 1) sorted by id and only the
        annotations whose ``image_id`` is among them; other top-level entries are shallow copies.

    Raises:
        ValueError: ``fraction`` outside (0, 1] or no images.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f'fraction must be in (0, 1], got {fraction!r}')
    images = sorted(coco['images'], key=lambda im: im['id'])
    if not images:
        raise ValueError('the annotation file has no images')
    k = max(1, round(fraction * len(images)))
    kept = sorted(random.Random(seed).sample(images, k), key=lambda im: im['id'])
    kept_ids = {im['id'] for im in kept}
    subset = dict(coco)
    subset['images'] = kept
    subset['annotations'] = [a for a in coco['annotations'] if a['image_id'] in kept_ids]
    return subset

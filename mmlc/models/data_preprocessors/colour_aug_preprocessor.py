# Copyright (c) mmlc contributors. All rights reserved.
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

from .colour_pipeline import BatchedColourPipeline


@MODELS.register_module()
class ColourAugDataPreprocessor(SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` that first applies each view's colour pipeline to the batch, on the
    model's device, when training: the data workers then only decode, crop, resize and flip.

    Give the views' colour pipelines here and none in the data pipeline (``PairedCorrespondenceTransform(
    c_pipeline=[], sc_pipeline=[])``). For the same parameters the batched operations give the CPU transforms'
    images (see :mod:`~mmlc.models.data_preprocessors.colour_ops`); each sample draws its own parameters with the
    CPU pipeline's probabilities and ranges.

    Random stream: one ``torch.Generator`` per call, seeded from (``seed``, the rank, the iteration in mmengine's
    ``MessageHub``, the number of earlier calls in that iteration) mixed by numpy's ``SeedSequence``. mmengine seeds
    every rank alike by default, so without the rank all GPUs would draw the same colours for their different
    images; the iteration comes from the ``MessageHub`` so that a resumed run draws what the uninterrupted run drew.
    Parameters are drawn on the host (a few numbers per sample): the stream is the same on every device type and
    selecting samples costs no device synchronisation.

    Args:
        view_pipelines (Sequence[str | list[dict]]): Per view, in the order of ``inputs`` (``[I_c, I_sc]``), a preset
            name of ``mmlc.datasets.transforms.COLOUR_PRESETS`` or a list of colour transform configs (types
            ``RandomApply``, ``ColorJitter``, ``RandomGrayscale``, ``GaussianBlur``, ``Solarize``; ``[]``: none).
        seed (int, optional): Base seed of the colour stream. Defaults to None: the run's seed as
            ``torch.initial_seed()`` gives it when the batch arrives (mmengine's ``randomness.seed``, the same on
            every rank unless ``diff_rank_seed``, and restored on resume), so changing the run's seed changes the
            colours and the same seed repeats them.
        **kwargs: ``SelfSupDataPreprocessor``'s arguments (``mean``, ``std``, ``to_rgb``, ...). Normalisation and
            the channel flip come after the colour pipelines, which see the images in mmcv's BGR order as the CPU
            transforms do.
    """

    def __init__(self, view_pipelines: Sequence[Union[str, List[dict]]], seed: Optional[int] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(view_pipelines, str) or not isinstance(view_pipelines, Sequence) or not view_pipelines:
            raise ValueError(f'view_pipelines must list one colour pipeline per view, got {view_pipelines!r}')
        if seed is not None and not (isinstance(seed, int) and seed >= 0):
            raise ValueError(f'seed must be a non-negative int or None, got {seed!r}')
        self.colour_views = [BatchedColourPipeline(cfg) for cfg in view_pipelines]
        self.seed = seed
        self._last_iter: Optional[int] = None
        self._calls_in_iter = 0

    def colour_generator(self) -> torch.Generator:
        """The CPU generator of this call's colour parameters: (seed, rank, iteration, call in the iteration)."""
        iteration = MessageHub.get_current_instance().get_info('iter')
        key = 0 if iteration is None else int(iteration) + 1  # 0: outside a training loop
        self._calls_in_iter = self._calls_in_iter + 1 if key == self._last_iter else 0
        self._last_iter = key
        base = torch.initial_seed() if self.seed is None else self.seed
        entropy = [int(base), get_rank(), key, self._calls_in_iter]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        return torch.Generator().manual_seed(seed)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Colour pipelines (training only), then ``SelfSupDataPreprocessor``'s channel flip and normalisation.

        Args:
            data (dict): ``inputs`` (list of V (B, 3, H, W) uint8 BGR batches) and ``data_samples``.
            training (bool): Whether to apply the colour pipelines. Defaults to False.

        Returns:
            dict: ``inputs`` (list of V (B, 3, H, W) float batches) and ``data_samples``.
        """
        if training:
            data = self.cast_data(data)  # to the model's device
            inputs = data['inputs']
            if not isinstance(inputs, list) or len(inputs) != len(self.colour_views):
                got = f'{len(inputs)} views' if isinstance(inputs, list) else type(inputs).__name__
                raise ValueError(f'ColourAugDataPreprocessor has {len(self.colour_views)} view pipelines but the '
                                 f'batch has {got}')
            if any(x.dtype != torch.uint8 for x in inputs):
                raise ValueError('ColourAugDataPreprocessor colours uint8 views, as the CPU transforms do; got '
                                 f'{[x.dtype for x in inputs]}')
            generator = self.colour_generator()
            data = dict(data, inputs=[view(x.float(), generator, 'bgr') for view, x in zip(self.colour_views, inputs)])
        return super().forward(data, training)

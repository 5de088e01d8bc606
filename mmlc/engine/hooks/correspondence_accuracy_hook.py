# Copyright (c) mmlc contributors. All rights reserved.
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ...analysis import (EMA_NAMES, ViewPair, dense_outputs, eval_mode, evaluate_pairs, extractor_from_model,
                         images_to_tensor, list_images, load_image, prepare_pairs, summarise, token_layout)
from ...datasets import DEMO_HELD_OUT_PHOTOS, bundled_photo_path
from ...models.utils import effective_rank, embedding_std, patch_grid_size, patch_tokens_to_map

#: What the hook logs as scalars ``train/<name>_<key>``.
SCALARS = ('acc', 'same_pos', 'image_std', 'local_acc', 'local_same_pos', 'global_std', 'global_erank', 'local_std',
           'local_erank')


@HOOKS.register_module()
class CorrespondenceAccuracyHook(Hook):
    """Log the flip correspondence accuracy (paper §4.6) and collapse diagnostics of the model being trained.

    A small fixed set of held-out images is turned into view pairs once, before training, with its own
    seed (the training random state is saved and restored). Before the first iteration and every ``interval``
    iterations, on rank 0 only, the model runs on them in eval mode under ``torch.no_grad()`` and the hook writes
    to the message hub (the logger hook prints the latest values and sends them to every visualisation backend,
    TensorBoard included), with ``<name>`` the hook's name:

    - ``<name>_acc``, ``<name>_same_pos``: accuracy and same-position rate (cells matched to the *un-mirrored*
      cell at their own position, the signature of features that encode position instead of content) of the part
      the options select (by default the online backbone's last map);
    - ``<name>_local_acc``, ``<name>_local_same_pos``: the same for the local projection, when the model has one
      and the selected part is not already it;
    - ``<name>_global_std``, ``<name>_global_erank``, ``<name>_local_std``, ``<name>_local_erank``: collapse
      diagnostics (:func:`~mmlc.models.utils.embedding_std`, :func:`~mmlc.models.utils.effective_rank`) of the
      global projections of all views and of the local embeddings of all their cells.

    Every evaluation is also appended as one JSON line to ``<work_dir>/<name>.jsonl`` (with per-image accuracies),
    and after training the log states the final values beside the first ones. Nothing in the model changes:
    each module's ``training`` flag is restored and BN statistics are not updated. The test means something
    only on maps of even width of at least 6 cells: at 3x3-4x4 a random network scores through position cues,
    and at odd widths the centre column maps onto itself; the hook warns otherwise.

    Args:
        interval (int): Evaluate every this many training iterations. Defaults to 50.
        data_root (str, optional): Directory of the images. Defaults to None: ``names`` are bundled photos
            (:data:`mmlc.datasets.BUNDLED_PHOTOS`).
        names (Sequence[str], optional): Image files inside ``data_root``, or bundled photo names. None with a
            ``data_root``: every image under it (sorted). Defaults to :data:`mmlc.datasets.DEMO_HELD_OUT_PHOTOS`.
        max_images (int): Upper bound on the number of images used. Defaults to 8.
        size (int): View side in pixels. Defaults to 192.
        mode (str): ``'flip'`` (the paper's test) or ``'crop'``. Defaults to 'flip'.
        colour (bool): Apply the §4.6 colour transforms. Defaults to True.
        colour_views (str): ``'both'`` views or only the ``'second'`` (flipped) one, see
            :func:`mmlc.analysis.prepare_pairs`. Defaults to 'both'.
        stage (int): Index into the backbone's output tuple. Defaults to -1.
        use_local_neck (bool): Score the local projection instead of the backbone map. Defaults to False.
        local_level (int): Which neck of a multi-level ``local_neck`` list. Defaults to -1.
        branch (str): ``'online'`` or ``'target'`` network. Defaults to 'online'.
        seed (int): Seed of the view pairs. Defaults to 0.
        evaluate_before_train (bool): Also measure once before the first iteration. Defaults to True.
        name (str): Prefix of the scalars and of the JSON-lines file (must not contain "loss"). Defaults to 'corr'.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL), so the new value is in the same log line

    def __init__(self,
                 interval: int = 50,
                 data_root: Optional[str] = None,
                 names: Optional[Sequence[str]] = DEMO_HELD_OUT_PHOTOS,
                 max_images: int = 8,
                 size: int = 192,
                 mode: str = 'flip',
                 colour: bool = True,
                 colour_views: str = 'both',
                 stage: int = -1,
                 use_local_neck: bool = False,
                 local_level: int = -1,
                 branch: str = 'online',
                 seed: int = 0,
                 evaluate_before_train: bool = True,
                 name: str = 'corr') -> None:
        if not (isinstance(interval, int) and interval > 0):
            raise ValueError(f'interval must be a positive int, got {interval!r}')
        if not (isinstance(max_images, int) and max_images > 0):
            raise ValueError(f'max_images must be a positive int, got {max_images!r}')
        if names is not None and not names:
            raise ValueError('names must list at least one image')
        if names is None and data_root is None:
            raise ValueError('names=None (every image of a folder) needs a data_root')
        if 'loss' in name:
            raise ValueError(f'name {name!r} must not contain "loss" (mmengine would treat it as a loss)')
        if mode not in ('flip', 'crop'):
            raise ValueError(f"mode must be 'flip' or 'crop', got {mode!r}")
        if branch not in ('online', 'target'):
            raise ValueError(f"branch must be 'online' or 'target', got {branch!r}")
        self.interval = interval
        self.data_root = data_root
        self.names = None if names is None else tuple(names)
        self.max_images = max_images
        self.size = size
        self.mode = mode
        self.colour = colour
        self.colour_views = colour_views
        self.stage = stage
        self.use_local_neck = use_local_neck
        self.local_level = local_level
        self.branch = branch
        self.seed = seed
        self.evaluate_before_train = evaluate_before_train
        self.name = name
        self.pairs: List[ViewPair] = []
        self.first: Optional[dict] = None  # the first evaluation of this run
        self._last: Optional[dict] = None  # the latest one, and after how many iterations
        self._last_iter = -1
        self._warned = False

    def _image_paths(self) -> List[str]:
        if self.names is None:
            return list_images(self.data_root, self.max_images)
        names = self.names[:self.max_images]
        if self.data_root is None:
            return [bundled_photo_path(n) for n in names]
        return [osp.join(self.data_root, n) for n in names]

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        paths = self._image_paths()
        self.pairs = prepare_pairs([load_image(p) for p in paths],
                                   mode=self.mode,
                                   size=self.size,
                                   colour=self.colour,
                                   seed=self.seed,
                                   names=[osp.basename(p) for p in paths],
                                   colour_views=self.colour_views)
        if self.evaluate_before_train:
            self.first = self._evaluate(runner, done_iters=runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval) and is_main_process():
            record = self._evaluate(runner, done_iters=runner.iter + 1)
            if self.first is None:
                self.first = record

    def after_train(self, runner) -> None:
        if not is_main_process() or self.first is None:
            return
        last = self._evaluate(runner, done_iters=runner.iter) if self._last_iter != runner.iter else self._last
        runner.logger.info(
            f'{self.name}: ' + '; '.join(f'{key} {last[key]:.4f} (iter {self.first["iter"]}: {self.first[key]:.4f})'
                                         for key in ('acc', 'same_pos', 'local_acc', 'local_same_pos') if key in last) +
            f'; chance {last["chance"]:.4f}, {last["num_images"]} images, {last["map"]} cells, {self.mode} pairs')

    def _parts(self, model: nn.Module):
        """(backbone, global neck, local neck or None) of the scored branch."""
        if self.branch == 'online':
            backbone, neck, local = model.backbone, model.neck, getattr(model, 'local_neck', None)
        else:
            # The EMA of Sequential(backbone, neck): BYOL's `target_net`, MoCo v3's `momentum_encoder`, DINO's
            # `teacher`.
            ema = next(getattr(model, name) for name in EMA_NAMES if hasattr(model, name))
            backbone, neck = ema.module
            local = getattr(model, 'target_local_neck', None)
            local = local.module if local is not None else None
        if isinstance(local, nn.ModuleList):
            local = local[self.local_level]
        return backbone, neck, local

    @torch.no_grad()
    def _collapse(self, model: nn.Module) -> Dict[str, float]:
        """Collapse diagnostics of the global projections and local embeddings of every view of the pairs."""
        backbone, neck, local = self._parts(model)
        extractor = extractor_from_model(model, branch=self.branch)  # the model's own input normalisation
        images = [p.view1 for p in self.pairs] + [p.view2 for p in self.pairs]
        batch = images_to_tensor(images, extractor.mean, extractor.std, extractor.to_rgb).to(extractor.device)
        modules = [m for m in (backbone, neck, local) if m is not None]
        extra_tokens = token_layout(backbone)  # None for a backbone that returns maps
        with eval_mode(*modules):
            feats = backbone(batch)
            raw = extra_tokens is not None and backbone.out_type == 'raw'
            if raw:
                projections = neck((feats[-1][:, 0], ))[0]  # (2N, D): the class token, as MoCo v3 + LC reads it
            else:  # as the algorithm calls it: BYOL's last map, a pooled ViT's class token (MoCo v3, DINO)
                projections = neck(feats[-1:])[0]  # (2N, D)
            if extra_tokens is not None:
                if raw:
                    tokens = feats
                else:
                    with dense_outputs(backbone):
                        tokens = backbone(batch)
                grid = patch_grid_size(backbone.patch_embed, batch.shape[-2:])
                feats = tuple(patch_tokens_to_map(t, grid, extra_tokens) for t in tokens)  # (2N, C, h, w) each
            out = dict(global_std=float(embedding_std(projections)), global_erank=float(effective_rank(projections)))
            if local is not None:
                cells = local(feats)[0].permute(0, 2, 3, 1).flatten(0, 2)  # (2N*h*w, C_l)
                out.update(local_std=float(embedding_std(cells)), local_erank=float(effective_rank(cells)))
        return out

    def _score(self, model: nn.Module, use_local_neck: bool) -> dict:
        extractor = extractor_from_model(
            model, stage=self.stage, use_local_neck=use_local_neck, branch=self.branch, local_level=self.local_level)
        results = evaluate_pairs(extractor, self.pairs, batch_size=len(self.pairs))
        return dict(
            summary=summarise(results), per_image={r.name: r.accuracy
                                                   for r in results}, map=results[0].feat_size1)

    def _evaluate(self, runner, done_iters: int) -> dict:
        """Measure, log and return the metrics of the model after ``done_iters`` iterations."""
        model = get_ori_model(runner.model)
        main = self._score(model, self.use_local_neck)
        h, w = main['map']
        if (w % 2 or w < 6) and not self._warned:
            runner.logger.warning(f'{self.name}: the scored map is {h}x{w}; correspondence accuracy is only '
                                  'meaningful on maps of even width >= 6 (raise the view size)')
            self._warned = True
        record = dict(
            iter=done_iters,
            acc=main['summary']['accuracy'],
            same_pos=main['summary']['same_position_rate'],
            image_std=main['summary']['image_std'],
            per_image=main['per_image'],
            chance=1. / (h * w),
            map=f'{h}x{w}',
            num_images=main['summary']['num_images'])
        if not self.use_local_neck and self._parts(model)[2] is not None:
            local = self._score(model, use_local_neck=True)
            record.update(
                local_acc=local['summary']['accuracy'],
                local_same_pos=local['summary']['same_position_rate'],
                local_per_image=local['per_image'])
        record.update(self._collapse(model))
        for key in SCALARS:
            if key in record:
                runner.message_hub.update_scalar(f'train/{self.name}_{key}', record[key])
        runner.logger.info(f'{self.name} (iter {done_iters}, {record["num_images"]} images, {h}x{w} cells, '
                           f'chance {record["chance"]:.4f}): ' + '  '.join(f'{key} {record[key]:.4f}'
                                                                           for key in SCALARS if key in record))
        work_dir = getattr(runner, 'work_dir', None)
        if work_dir:
            with open(osp.join(work_dir, f'{self.name}.jsonl'), 'a') as f:
                f.write(
                    json.dumps({
                        k: (None if isinstance(v, float) and np.isnan(v) else v)
                        for k, v in record.items()
                    }) + '\n')
        self._last, self._last_iter = record, done_iters
        return record

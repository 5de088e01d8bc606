# Copyright (c) mmlc contributors. All rights reserved.
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ...analysis import ViewPair, evaluate_pairs, extractor_from_model, load_image, prepare_pairs, summarise

#: scikit-image photos not in the demo's training set (:data:`mmlc.datasets.SKIMAGE_PHOTOS`).
HELD_OUT_SKIMAGE = ('coins.png', 'moon.png', 'brick.png', 'page.png')


@HOOKS.register_module()
class CorrespondenceAccuracyHook(Hook):
    """Log the flip correspondence accuracy (paper §4.6) of the model being trained, every N iterations.

    A small fixed set of held-out images is turned into view pairs once, before training, with its own
    seed (the training random state is saved and restored). Every ``interval`` iterations, on rank 0
    only, the backbone (optionally with the local projection) runs on them in eval mode under
    ``torch.no_grad()``, and the accuracy is written to the message hub as ``train/<name>``: the
    logger hook then prints its latest value in the text log and sends it to every visualisation
    backend (TensorBoard included). Nothing in the model changes: each module's ``training`` flag is
    restored and BN statistics are not updated.

    Args:
        interval (int): Evaluate every this many training iterations. Defaults to 50.
        data_root (str, optional): Directory of the images. Defaults to scikit-image's bundled data.
        names (Sequence[str]): Image files inside ``data_root``. Defaults to :data:`HELD_OUT_SKIMAGE`.
        max_images (int): Upper bound on the number of images used. Defaults to 8.
        size (int): View side in pixels. Defaults to 128.
        mode (str): ``'flip'`` (the paper's test) or ``'crop'``. Defaults to 'flip'.
        colour (bool): Apply the §4.6 colour transforms. Defaults to True.
        stage (int): Index into the backbone's output tuple. Defaults to -1.
        use_local_neck (bool): Score the local projection instead of the backbone map. Defaults to False.
        local_level (int): Which neck of a multi-level ``local_neck`` list. Defaults to -1.
        branch (str): ``'online'`` or ``'target'`` network. Defaults to 'online'.
        seed (int): Seed of the view pairs. Defaults to 0.
        evaluate_before_train (bool): Also measure once before the first iteration. Defaults to True.
        name (str): Scalar name (must not contain "loss"). Defaults to 'corr_acc'.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL), so the new value is in the same log line

    def __init__(self,
                 interval: int = 50,
                 data_root: Optional[str] = None,
                 names: Sequence[str] = HELD_OUT_SKIMAGE,
                 max_images: int = 8,
                 size: int = 128,
                 mode: str = 'flip',
                 colour: bool = True,
                 stage: int = -1,
                 use_local_neck: bool = False,
                 local_level: int = -1,
                 branch: str = 'online',
                 seed: int = 0,
                 evaluate_before_train: bool = True,
                 name: str = 'corr_acc') -> None:
        if not (isinstance(interval, int) and interval > 0):
            raise ValueError(f'interval must be a positive int, got {interval!r}')
        if not (isinstance(max_images, int) and max_images > 0):
            raise ValueError(f'max_images must be a positive int, got {max_images!r}')
        if not names:
            raise ValueError('names must list at least one image')
        if 'loss' in name:
            raise ValueError(f'name {name!r} must not contain "loss" (mmengine would treat it as a loss)')
        if mode not in ('flip', 'crop'):
            raise ValueError(f"mode must be 'flip' or 'crop', got {mode!r}")
        if branch not in ('online', 'target'):
            raise ValueError(f"branch must be 'online' or 'target', got {branch!r}")
        self.interval = interval
        self.data_root = data_root
        self.names = tuple(names)[:max_images]
        self.size = size
        self.mode = mode
        self.colour = colour
        self.stage = stage
        self.use_local_neck = use_local_neck
        self.local_level = local_level
        self.branch = branch
        self.seed = seed
        self.evaluate_before_train = evaluate_before_train
        self.name = name
        self.pairs: List[ViewPair] = []

    def _image_paths(self) -> List[str]:
        root = self.data_root
        if root is None:
            from ...datasets import skimage_data_dir
            root = skimage_data_dir()
        return [osp.join(root, n) for n in self.names]

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        paths = self._image_paths()
        self.pairs = prepare_pairs([load_image(p) for p in paths], mode=self.mode, size=self.size,
                                   colour=self.colour, seed=self.seed, names=[osp.basename(p) for p in paths])
        if self.evaluate_before_train:
            self._evaluate(runner, done_iters=runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval) and is_main_process():
            self._evaluate(runner, done_iters=runner.iter + 1)

    def _evaluate(self, runner, done_iters: int) -> float:
        """Measure, log and return the accuracy of the model after ``done_iters`` iterations."""
        model = get_ori_model(runner.model)
        extractor = extractor_from_model(model, stage=self.stage, use_local_neck=self.use_local_neck,
                                         branch=self.branch, local_level=self.local_level)
        stats = summarise(evaluate_pairs(extractor, self.pairs, batch_size=len(self.pairs)))
        runner.message_hub.update_scalar(f'train/{self.name}', stats['accuracy'])
        runner.logger.info(
            f'{self.name} (iter {done_iters}): {stats["accuracy"]:.4f} over {stats["num_cells"]} cells of '
            f'{stats["num_images"]} held-out images ({self.mode} pairs, per-image std '
            f'{stats["image_std"]:.4f})')
        return stats['accuracy']

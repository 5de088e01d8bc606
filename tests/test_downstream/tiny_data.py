# Copyright (c) mmlc contributors. All rights reserved.
"""Tiny generated datasets in the COCO / VOC-as-COCO / VOC-seg / Cityscapes layouts, a random ResNet-50
pretraining checkpoint and a config shrinker, for CPU tests of the downstream code."""

import json
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub
from PIL import Image

H, W = 48, 64  # image size: small for R50 on a shared 2-core CPU; >= 32 px (mmdet's min_size filter)


def _boxes(rng: np.random.Generator, n: int) -> List[List[float]]:
    """n random COCO xywh boxes, at least 12 px a side, inside the image."""
    boxes = []
    for _ in range(n):
        w, h = rng.integers(12, 30), rng.integers(12, 24)
        x, y = rng.integers(0, W - w), rng.integers(0, H - h)
        boxes.append([float(x), float(y), float(w), float(h)])
    return boxes


def _image(rng: np.random.Generator, boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """Noise with a bright rectangle per box, (H, W, 3) uint8."""
    img = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
    for x, y, w, h in boxes:
        img[int(y):int(y + h), int(x):int(x + w)] = rng.integers(150, 255, 3, dtype=np.uint8)
    return img


def write_coco(root: str,
               ann_name: str,
               img_dir: str,
               class_names: Sequence[str],
               n_images: int = 2,
               keypoints: bool = False,
               seed: int = 0) -> str:
    """Write ``n_images`` JPEGs under ``root/img_dir`` and a COCO json ``root/annotations/ann_name``.

    Every image has two objects of the first classes, with a rectangular polygon mask; with
    ``keypoints`` each object is a person with 17 keypoints (the COCO skeleton), most of them visible.

    Returns:
        str: Path of the annotation file.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, img_dir), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    images, anns = [], []
    for i in range(n_images):
        boxes = _boxes(rng, 2)
        name = f'{i:06d}.jpg'
        Image.fromarray(_image(rng, boxes)).save(osp.join(root, img_dir, name))
        images.append(dict(id=i + 1, file_name=name, height=H, width=W))
        for j, (x, y, w, h) in enumerate(boxes):
            ann = dict(
                id=len(anns) + 1,
                image_id=i + 1,
                category_id=1 if keypoints else j % 2 + 1,
                bbox=[x, y, w, h],
                area=w * h,
                iscrowd=0,
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]])
            if keypoints:
                kx = rng.uniform(x + 1, x + w - 1, 17)
                ky = rng.uniform(y + 1, y + h - 1, 17)
                v = np.where(rng.uniform(size=17) < 0.8, 2, 0)
                ann['keypoints'] = [float(c) for k in range(17) for c in (kx[k] * (v[k] > 0), ky[k] * (v[k] > 0), v[k])]
                ann['num_keypoints'] = int((v > 0).sum())
            anns.append(ann)
    if keypoints:
        categories = [
            dict(
                id=1,
                name='person',
                supercategory='person',
                keypoints=[f'k{k}' for k in range(17)],
                skeleton=[[16, 14], [14, 12], [17, 15], [15, 13], [12, 13]])
        ]
    else:
        categories = [dict(id=k + 1, name=n, supercategory='thing') for k, n in enumerate(class_names)]
    path = osp.join(root, 'annotations', ann_name)
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=categories), f)
    return path


def write_seg(root: str,
              img_dir: str,
              seg_dir: str,
              img_suffix: str,
              seg_suffix: str,
              n_images: int = 2,
              split_file: str = None,
              seed: int = 0) -> List[str]:
    """Write image / label-map pairs (labels 0, 1, 2 and some 255 'ignore').

    Returns:
        list[str]: The sample names (file names without suffix).
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, img_dir), exist_ok=True)
    os.makedirs(osp.join(root, seg_dir), exist_ok=True)
    names = []
    for i in range(n_images):
        boxes = _boxes(rng, 2)
        label = np.zeros((H, W), dtype=np.uint8)
        for k, (x, y, w, h) in enumerate(boxes):
            label[int(y):int(y + h), int(x):int(x + w)] = k + 1
        label[:2] = 255
        name = f'img{i:03d}'
        Image.fromarray(_image(rng, boxes)).save(osp.join(root, img_dir, name + img_suffix))
        Image.fromarray(label).save(osp.join(root, seg_dir, name + seg_suffix))
        names.append(name)
    if split_file is not None:
        os.makedirs(osp.dirname(osp.join(root, split_file)), exist_ok=True)
        with open(osp.join(root, split_file), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return names


def random_resnet50_checkpoint(path: str, seed: int = 0) -> Dict[str, torch.Tensor]:
    """Save a full-Runner-like BYOL+LC checkpoint whose backbones are random ResNet-50s.

    Convolutions keep PyTorch's default random init; every BN tensor (affine and running statistics) is
    randomised around its identity value, so a backbone that was *not* loaded differs from it in every
    tensor while activations keep a sensible scale. The file holds the non-tensor objects a real Runner
    checkpoint has (``meta``, ``message_hub`` with ``HistoryBuffer``), so loading it exercises the
    ``weights_only`` allow-list.

    Returns:
        dict[str, Tensor]: The online backbone's prefix-free state dict.
    """
    from mmpretrain.models import ResNet
    torch.manual_seed(seed)
    online = ResNet(depth=50).state_dict()
    for k, v in online.items():
        if '.bn' in f'.{k}' or 'downsample.1.' in k:  # bn1/bn2/bn3 and the projection's BN
            if k.endswith('running_var'):
                v.copy_(torch.rand_like(v) + 0.5)
            elif k.endswith('weight'):
                v.copy_(torch.randn_like(v) * 0.1 + 1)
            elif v.is_floating_point():  # bias, running_mean
                v.copy_(torch.randn_like(v) * 0.1)
    state = {f'backbone.{k}': v for k, v in online.items()}
    state.update({f'target_net.module.0.{k}': v + 1 if v.is_floating_point() else v.clone() for k, v in online.items()})
    state['neck.mlp.0.weight'] = torch.randn(8, 2048)
    state['local_neck.conv1.weight'] = torch.randn(8, 2048, 1, 1)
    hub = MessageHub(f'tiny-ckpt-{seed}')
    hub.update_scalar('train/loss', 1.0)
    torch.save(dict(meta=dict(iter=1, seed=np.int64(seed)), state_dict=state, message_hub=hub.state_dict()), path)
    return online


def _replace_norm(node, old: str = 'SyncBN', new: str = 'BN'):
    """Every ``norm_cfg.type == old`` in a (nested) config, recursively replaced by ``new``."""
    if isinstance(node, dict):
        if node.get('type') == old:
            node['type'] = new
        for v in node.values():
            _replace_norm(v, old, new)
    elif isinstance(node, list):
        for v in node:
            _replace_norm(v, old, new)


def _zero_score_thr(node) -> None:
    """Every ``score_thr`` in a (nested) test config set to 0."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'score_thr':
                node[k] = 0.0
            else:
                _zero_score_thr(v)


def _shrink_pipeline(pipeline: List[dict], crop: int) -> None:
    """Image sizes of a det/seg pipeline brought down to about (W, H) of the tiny images."""
    for t in pipeline:
        if 'scale' in t:
            t['scale'] = (W, H)
        if 'scales' in t:
            t['scales'] = [(W, H), (W, H - 16)]
        if 'crop_size' in t:
            t['crop_size'] = (crop, crop)


def _innermost(dataset: dict) -> dict:
    """The real dataset under RepeatDataset/ConcatDataset wrappers (the first one of a concatenation)."""
    while dataset.get('type') in ('RepeatDataset', 'ConcatDataset', 'ClassBalancedDataset'):
        dataset = dataset['dataset'] if 'dataset' in dataset else dataset['datasets'][0]
    return dataset


def shrink_config(cfg: Config,
                  work_dir: str,
                  train_ds: dict,
                  test_ds: dict,
                  ann_test: str = None,
                  crop: int = 32) -> Config:
    """The config, unchanged in model and recipe, run on tiny data for one training and one test step.

    ``train_ds``/``test_ds`` update the innermost dataset dicts (``data_root``, ``ann_file``,
    ``data_prefix``, ...); their pipelines are the config's own with smaller sizes. Validation and
    checkpoint saving are turned off, SyncBN becomes BN (no process group in the tests), and detection
    score thresholds drop to 0 so that an untrained head still yields detections to evaluate. Modifies
    and returns ``cfg``.
    """
    cfg.work_dir = work_dir
    _replace_norm(cfg.model)
    _zero_score_thr(cfg.model.get('test_cfg'))
    for key, new in (('train_dataloader', train_ds), ('test_dataloader', test_ds)):
        loader = cfg[key]
        ds = ConfigDict(_innermost(loader.dataset))
        ds.update(new)
        _shrink_pipeline(ds.pipeline, crop)
        loader.dataset = ds
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    if cfg.train_dataloader.get('batch_sampler') is not None:
        cfg.train_dataloader.batch_sampler = None  # AspectRatioBatchSampler would drop a 1-image group
    if ann_test is not None:
        cfg.test_evaluator.ann_file = ann_test
    if cfg.train_cfg.type == 'EpochBasedTrainLoop':
        cfg.train_cfg.update(max_epochs=1, val_interval=10**6)
    else:
        cfg.train_cfg.update(max_iters=1, val_interval=10**6)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0)
    preproc = cfg.model.get('data_preprocessor', {})
    if 'size' in preproc:
        preproc['size'] = (crop, crop)
    if cfg.model.get('test_cfg', {}).get('mode') == 'slide':
        cfg.model.test_cfg.update(crop_size=(crop, crop), stride=(crop * 3 // 4, crop * 3 // 4))
    return cfg

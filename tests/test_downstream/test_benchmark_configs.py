# Copyright (c) mmlc contributors. All rights reserved.
"""Every downstream benchmark config, run by mmengine's Runner on tiny generated data: the pretrained
backbone is loaded whole, one training step and one test step run, the test log yields the protocol's
metrics, and frozen variants leave the backbone untouched while the rest trains."""

import glob
import os.path as osp
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmlc.downstream import PROTOCOLS, parse_test_metrics, protocol_values
from .tiny_data import random_resnet50_checkpoint, shrink_config, write_coco, write_seg
from conftest import CONFIG_DIR

pytest.importorskip('mmdet')
pytest.importorskip('mmseg')

BENCH_DIR = osp.join(CONFIG_DIR, 'benchmarks')
DET = sorted(glob.glob(osp.join(BENCH_DIR, 'mmdetection', '*.py')))
# The paper's ResNet-50 protocols; the ViT-S/16 config is not one of them (test_vit_convert.py builds it).
SEG = sorted(p for p in glob.glob(osp.join(BENCH_DIR, 'mmsegmentation', '*.py')) if '_vit-' not in osp.basename(p))
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
               'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('pretrain') / 'iter_1.pth')
    return path, random_resnet50_checkpoint(path)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """One folder with every tiny dataset the configs need."""
    from mmdet.datasets import CocoDataset
    root = str(tmp_path_factory.mktemp('data'))
    coco = osp.join(root, 'coco')
    write_coco(coco, 'train.json', 'train2017', CocoDataset.METAINFO['classes'], seed=1)
    write_coco(coco, 'val.json', 'val2017', CocoDataset.METAINFO['classes'], n_images=1, seed=2)
    write_coco(coco, 'kp_train.json', 'train2017_kp', ['person'], keypoints=True, seed=3)
    write_coco(coco, 'kp_val.json', 'val2017_kp', ['person'], keypoints=True, n_images=1, seed=4)
    voc = osp.join(root, 'voc')
    write_coco(voc, 'trainval.json', 'VOC2007/JPEGImages', VOC_CLASSES, seed=5)
    write_coco(voc, 'test.json', 'VOC2007/test', VOC_CLASSES, n_images=1, seed=6)
    write_seg(
        osp.join(root, 'voc_seg'),
        'JPEGImages',
        'SegmentationClass',
        '.jpg',
        '.png',
        split_file='ImageSets/Segmentation/train.txt',
        seed=7)
    write_seg(
        osp.join(root, 'cityscapes'),
        'leftImg8bit/train/aachen',
        'gtFine/train/aachen',
        '_leftImg8bit.png',
        '_gtFine_labelTrainIds.png',
        seed=8)
    return root


def _tiny(cfg: Config, name: str, root: str, work_dir: str) -> Config:
    """The config on the tiny dataset of its kind (picked from the config name)."""
    if 'keypoint' in name:
        ann = osp.join(root, 'coco', 'annotations')
        train = dict(
            data_root=osp.join(root, 'coco'),
            ann_file='annotations/kp_train.json',
            data_prefix=dict(img='train2017_kp/'))
        test = dict(
            data_root=osp.join(root, 'coco'), ann_file='annotations/kp_val.json', data_prefix=dict(img='val2017_kp/'))
        return shrink_config(cfg, work_dir, train, test, ann_test=osp.join(ann, 'kp_val.json'))
    if 'coco' in name and 'voc' not in name:
        ann = osp.join(root, 'coco', 'annotations')
        train = dict(
            data_root=osp.join(root, 'coco'), ann_file='annotations/train.json', data_prefix=dict(img='train2017/'))
        test = dict(data_root=osp.join(root, 'coco'), ann_file='annotations/val.json', data_prefix=dict(img='val2017/'))
        return shrink_config(cfg, work_dir, train, test, ann_test=osp.join(ann, 'val.json'))
    if 'voc0712' in name:
        voc = osp.join(root, 'voc')
        train = dict(data_root=voc, ann_file='annotations/trainval.json', data_prefix=dict(img='VOC2007/JPEGImages/'))
        test = dict(data_root=voc, ann_file='annotations/test.json', data_prefix=dict(img='VOC2007/test/'))
        return shrink_config(cfg, work_dir, train, test, ann_test=osp.join(voc, 'annotations', 'test.json'))
    if 'voc12aug' in name:
        seg = dict(
            data_root=osp.join(root, 'voc_seg'),
            ann_file='ImageSets/Segmentation/train.txt',
            data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'))
        return shrink_config(cfg, work_dir, seg, seg)
    assert 'cityscapes' in name, name
    seg = dict(
        data_root=osp.join(root, 'cityscapes'),
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'))
    return shrink_config(cfg, work_dir, seg, seg)


class _Snapshot(Hook):
    """Copies of the model's tensors right after weight initialisation (i.e. after loading)."""

    def before_train(self, runner) -> None:
        self.before = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def _changed(before: Dict[str, torch.Tensor], after: Dict[str, torch.Tensor], prefix: str) -> Dict[str, bool]:
    return {k: not torch.equal(v, after[k]) for k, v in before.items() if k.startswith(prefix)}


@pytest.mark.parametrize('path', DET + SEG, ids=osp.basename)
def test_config_loads_backbone_and_steps(path, pretrained, data_root, tmp_path):
    ckpt, backbone = pretrained
    name = osp.basename(path)
    cfg = Config.fromfile(path)
    # The recipe the issue asks for, read from the config as written (before the test's changes).
    bb = cfg.model.backbone
    assert bb.type == 'ResNet' and bb.depth == 50 and bb.norm_cfg.type == 'SyncBN'
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=bb.init_cfg.checkpoint, prefix='backbone.')
    frozen = 'frozen' in name
    assert (bb.frozen_stages, bb.norm_eval) == ((4, True) if frozen else (-1, False))
    assert 'mmlc' in cfg.custom_imports.imports

    cfg.model.backbone.init_cfg.checkpoint = ckpt
    cfg = _tiny(cfg, name, data_root, str(tmp_path))
    runner = Runner.from_cfg(cfg)
    snap = _Snapshot()
    runner.register_hook(snap, priority='LOWEST')
    runner.train()

    # Every backbone tensor came from the checkpoint: same names, same values.
    loaded = {k[len('backbone.'):]: v for k, v in snap.before.items() if k.startswith('backbone.')}
    assert loaded.keys() == backbone.keys()
    for k, v in backbone.items():
        torch.testing.assert_close(loaded[k], v, rtol=0, atol=0, msg=k)

    after = runner.model.state_dict()
    backbone_changed = _changed(snap.before, after, 'backbone.')
    heads = {k.split('.')[0] for k in after if not k.startswith(('backbone.', 'data_preprocessor.'))}
    assert heads, after.keys()
    for head in heads:  # neck, rpn_head, roi_head, bbox_head, decode_head, auxiliary_head ...
        assert any(_changed(snap.before, after, head + '.').values()), f'{head} did not train'
    if frozen:
        assert not any(backbone_changed.values()), [k for k, c in backbone_changed.items() if c][:5]
        assert not any(p.requires_grad for p in runner.model.backbone.parameters())
    else:
        assert backbone_changed['backbone.conv1.weight'] and backbone_changed['backbone.layer4.2.conv3.weight']
        assert backbone_changed['backbone.layer1.0.bn1.running_mean']  # BN statistics are fine-tuned too

    metrics = runner.test()
    with open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]) as f:
        logged = parse_test_metrics(f.read())
    rel = osp.relpath(path, osp.dirname(CONFIG_DIR))
    rows = [p for p in PROTOCOLS if p.config == rel]
    assert rows, f'{rel} is in no protocol of mmlc/downstream/protocols.py'
    for p in rows:
        values = protocol_values(p, logged)
        assert values is not None, (p.metrics, logged)
        assert values == pytest.approx([metrics[k] * p.scale for k in p.metrics], abs=1e-3)


def test_every_protocol_config_exists():
    root = osp.dirname(CONFIG_DIR)
    for p in PROTOCOLS:
        assert osp.isfile(osp.join(root, p.config)), p.config
    assert {osp.join(root, p.config) for p in PROTOCOLS} == set(DET + SEG)


@pytest.mark.parametrize('pct', [5, 10])
def test_mini_coco_configs_read_the_subset_tool_output(pct):
    cfg = Config.fromfile(osp.join(BENCH_DIR, 'mmdetection', f'mask-rcnn_r50_fpn_8xb2-1x_coco-{pct}pct.py'))
    assert cfg.train_dataloader.dataset.ann_file == f'annotations/instances_train2017_{pct}pct_seed0.json'
    assert cfg.test_evaluator.ann_file.endswith('annotations/instances_val2017.json')  # full val2017
    with open(osp.join(osp.dirname(CONFIG_DIR), 'tools', 'benchmarks', 'run_all.sh')) as f:
        assert 'instances_train2017_${pct}pct_seed0.json' in f.read()


def test_evaluators_report_the_papers_metrics():
    det = osp.join(BENCH_DIR, 'mmdetection')
    voc = Config.fromfile(osp.join(det, 'faster-rcnn_r50_fpn_8xb2-24k_voc0712-cocofmt.py')).test_evaluator
    assert voc == dict(
        type='CocoMetric', ann_file='data/VOCdevkit/annotations/voc07_test.json', metric='bbox',
        format_only=False)  # COCO-style AP/AP50/AP75 on test07
    kp = Config.fromfile(osp.join(det, 'keypoint-rcnn_r50_fpn_8xb2-90k_coco.py'))
    assert kp.test_evaluator.type == 'CocoKeypointMetric' and kp.train_cfg.max_iters == 90000
    mask = Config.fromfile(osp.join(det, 'mask-rcnn_r50_fpn_8xb2-1x_coco.py'))
    assert mask.test_evaluator.metric == ['bbox', 'segm'] and mask.train_cfg.max_epochs == 12
    retina = Config.fromfile(osp.join(det, 'retinanet_r50_fpn_8xb2-90k_coco.py'))
    assert retina.train_cfg.max_iters == 90000
    seg = osp.join(BENCH_DIR, 'mmsegmentation')
    assert Config.fromfile(osp.join(seg, 'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')).train_cfg.max_iters == 20000
    assert Config.fromfile(osp.join(seg, 'fcn_r50-d8_4xb2-40k_cityscapes-769x769.py')).train_cfg.max_iters == 40000

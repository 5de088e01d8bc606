# Table 8, COCO keypoint estimation: Keypoint R-CNN R50-FPN fine-tuned on person_keypoints_train2017 for
# 90k iterations (batch 16), keypoint AP (OKS) on val2017. mmdet 3.x has no Keypoint R-CNN, so
# mmlc.downstream.keypoints adds detectron2's keypoint branch (8 convs + deconv + x2 upsampling, 56x56
# heatmaps, spatial-softmax loss) in Mask R-CNN's mask-branch slot, a keypoint dataset/pipeline and an
# OKS metric; detection, RPN and schedule are mmdet's Mask R-CNN / 90k recipes, training scales 640-800
# as detectron2's keypoint configs. Backbone: plain ResNet-50 from an mmlc checkpoint, SyncBN, all
# stages and BN statistics fine-tuned.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../_base_/mmlc_resnet50.py']

custom_imports = dict(imports=['mmlc', 'mmlc.downstream.keypoints'], allow_failed_imports=False)

model = dict(
    backbone=_base_.mmlc_backbone,
    roi_head=dict(
        bbox_head=dict(num_classes=1),
        # the base's mask_roi_extractor (14x14 RoIAlign on P2-P5) feeds the keypoint head
        mask_head=dict(_delete_=True, type='KeypointRCNNHead', num_keypoints=17, in_channels=256)))

data_root = 'data/coco/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadKeypointAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=[(1333, s) for s in range(640, 801, 32)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='KeypointsFollowGeometry'),
    dict(type='PackKeypointDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CocoKeypointDataset',
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type='CocoKeypointDataset',
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='CocoKeypointMetric', ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator

# mmdet's 90k schedule (as retinanet_r50_fpn_90k_coco.py)
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=90000, val_interval=10000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=90000, by_epoch=False, milestones=[60000, 80000], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)

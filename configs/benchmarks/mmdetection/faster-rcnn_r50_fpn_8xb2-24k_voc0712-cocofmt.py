# Table 2, PASCAL VOC detection: Faster R-CNN R50-FPN fine-tuned on trainval07+12, tested on test07 with
# COCO-style AP, AP50, AP75 (mmdet's CocoMetric on the VOC annotations converted to COCO json by mmdet's
# tools/dataset_converters/pascal_voc.py --out-format coco). The paper does not spell out the VOC
# schedule; this is the detectron2 VOC schedule of the works it follows (SCRL, PixPro): 24k iterations at
# batch 16, lr 0.02 dropped x0.1 at 18k and 22k, shorter side 480-800 (step 32) in training, 800 in test.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712-cocofmt.py', '../_base_/mmlc_resnet50.py']

model = dict(backbone=_base_.mmlc_backbone)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=[(1333, s) for s in range(480, 801, 32)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True), dataset=dict(times=1, dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Replace, not merge: mmdet's voc0712-cocofmt base merges its CocoMetric into voc0712.py's VOCMetric and
# keeps that one's eval_mode='11points', which CocoMetric rejects (TypeError at build time).
val_evaluator = dict(
    _delete_=True,
    type='CocoMetric',
    ann_file='data/VOCdevkit/annotations/voc07_test.json',
    metric='bbox',
    format_only=False)
test_evaluator = val_evaluator

max_iters = 24000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[18000, 22000], gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.02))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)

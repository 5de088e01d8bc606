# DINO on CPU in minutes, on the photos bundled with installed packages (no download): the ViT-S/16 recipe
# (dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py) scaled down to a tiny ViT (192-d, 4 layers, 3 heads, patch
# 16), a narrow head with 1024 prototypes, 2 global crops at 64 px + 4 local crops at 32 px, batch 8, 300
# iterations in fp32. Every schedule of the recipe runs per iteration instead of per epoch with the same shape:
# lr warm-up over the first 10% of the run then cosine to 1e-6, weight decay 0.04 -> 0.4 (cosine), last layer frozen
# for the first 1% (3 iterations), teacher temperature 0.04 throughout. Choices not tuned for this scale (nothing
# here was measured): lr 5e-4 (DINO's reference lr for 256 images, not scaled down to batch 8) and teacher EMA
# 0.99 -> 1, taken over from the BYOL demo's reasoning (with 0.996 the teacher would barely move in 300 steps).
_base_ = 'dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py'

out_dim = 1024
model = dict(
    base_momentum=0.01,
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=192 * 4), img_size=64),
    neck=dict(in_channels=192, hid_channels=512, bottleneck_channels=128, out_channels=out_dim),
    head=dict(out_channels=out_dim))

global_size, local_size = 64, 32
num_local_crops = 4
global_view1, global_view2 = ([
    dict(t, scale=global_size, crop_ratio_range=_base_.global_crops_scale) if t['type'] == 'RandomResizedCrop' else t
    for t in view
] for view in (_base_.view_pipeline1, _base_.view_pipeline2))
local_view = [
    dict(t, scale=local_size, crop_ratio_range=_base_.local_crops_scale)
    if t['type'] == 'RandomResizedCrop' else dict(t, prob=0.5) if t['type'] == 'GaussianBlur' else t
    for t in _base_.view_pipeline1 if t['type'] != 'Solarize'
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='BundledPhotos',  # mmlc.datasets.DEMO_TRAIN_PHOTOS
        pipeline=[
            dict(type='LoadImageOrSkip'),
            dict(
                type='MultiView',
                num_views=[1, 1, num_local_crops],
                transforms=[global_view1, global_view2, local_view]),
            dict(type='PackInputs'),
        ]))

optim_wrapper = dict(
    type='OptimWrapper',
    _delete_=True,
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.04),
    paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)
auto_scale_lr = dict(enable=False)

max_iters, warmup_iters = 300, 30
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        T_max=max_iters - warmup_iters,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_iters, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)

custom_hooks = [
    dict(type='DINOTeacherTempHook', warmup_temp=0.04, temp=0.04, warmup=0, by_epoch=False),
    dict(type='DINOFreezeLastLayerHook', freeze=3, by_epoch=False),
    dict(type='DINOGradClipHook', max_norm=3.0),
]

default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
env_cfg = dict(dist_cfg=dict(backend='gloo'))

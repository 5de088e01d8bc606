# DINO (Caron et al., ICCV 2021) with ViT-S/16 (DeiT-small: 384-d, 12 layers, 6 heads), the "vanilla" 100-epoch
# run of the official repository's README (facebookresearch/dino: `main_dino.py --arch vit_small` on 8 GPUs, every
# other argument at its default):
#   8 GPUs x 64 images, fp16; AdamW, lr 0.0005 x batch / 256 = 0.001 after a 10-epoch linear warm-up, cosine to
#   1e-6; weight decay 0.04 -> 0.4 (cosine over all iterations; biases and norm weights, the 1-D parameters, get
#   none); teacher EMA 0.996 -> 1 (cosine); DINO head 384 -> 2048 -> 2048 -> 256 -> 65536 prototypes, last layer
#   weight-normalised with its gains frozen at 1 (norm_last_layer True); student temperature 0.1, teacher 0.04 (the
#   default warm-up is 0.04 -> 0.04, i.e. none: 0.04 -> 0.07 over 30 epochs is the README's "boosted" 300-epoch run,
#   dino_vit-small-p16_16xb64-amp-coslr-300e_in1k.py), centre momentum 0.9; last layer frozen for the first epoch;
#   every gradient tensor clipped to norm 3.0 on its own (DINO's clipping, not mmengine's joint-norm clip_grad);
#   stochastic depth 0.1 (student only); 2 global crops at 224 px, scale (0.4, 1) and 8 local crops at 96 px,
#   scale (0.05, 0.4) (the README run uses main_dino.py's default of 8 local crops; 10, reportedly used for the
#   released ViT-S/16 checkpoint, could not be confirmed here: set num_views=[1, 1, 10] in the MultiView to try).
# Augmentations are BYOL's, as in DINO: mmpretrain's two BYOL view pipelines for the global crops (blur p 1.0 and
# p 0.1 + solarisation p 0.2), the first one with blur p 0.5 and no solarisation for the local crops.
# Differences from the reference code: the backbone keeps mmpretrain's VisionTransformer initialisation; the EMA
# update runs at the start of each step (mmpretrain's CosineEMA) instead of after it.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_byol.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)

out_dim = 65536
model = dict(
    type='DINO',
    # mmpretrain's CosineEMA momentum is the weight of the *new* parameters: EMA 0.996 -> 1 is 0.004 -> 0.
    base_momentum=0.004,
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',  # 384-d, 12 layers, 6 heads (mmpretrain's arch='small' is a different, 768-d model)
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='cls_token'),  # the class token after the final LayerNorm, (B, 384)
    neck=dict(
        type='DINONeck',
        in_channels=384,
        hid_channels=2048,
        bottleneck_channels=256,
        out_channels=out_dim,
        num_layers=3,
        norm_last_layer=True),
    head=dict(type='DINOHead', out_channels=out_dim, student_temp=0.1, teacher_temp=0.04, center_momentum=0.9))

# Multi-crop views from mmpretrain's BYOL view pipelines (inherited from the dataset base).
global_size, local_size = 224, 96
global_crops_scale, local_crops_scale = (0.4, 1.), (0.05, 0.4)
num_local_crops = 8
global_view1, global_view2 = ([
    dict(t, scale=global_size, crop_ratio_range=global_crops_scale) if t['type'] == 'RandomResizedCrop' else t
    for t in view
] for view in (_base_.view_pipeline1, _base_.view_pipeline2))
local_view = [
    dict(t, scale=local_size, crop_ratio_range=local_crops_scale)
    if t['type'] == 'RandomResizedCrop' else dict(t, prob=0.5) if t['type'] == 'GaussianBlur' else t
    for t in _base_.view_pipeline1 if t['type'] != 'Solarize'
]
train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='MultiView', num_views=[1, 1, num_local_crops], transforms=[global_view1, global_view2, local_view]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    drop_last=True,
    # Inheriting across packages ('mmpretrain::') tags every base dict with `_scope_`; mmengine passes that tag on
    # to the collate function as an argument, so the collate config is restated without it.
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(pipeline=train_pipeline))

# AdamW at the linear-scaling rule's lr for 8 x 64 = 512 images; `--auto-scale-lr` rescales it from that batch.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=0.0005 * 512 / 256, weight_decay=0.04),
    # DINO regularises every parameter except biases and 1-D ones (norm weights).
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
auto_scale_lr = dict(base_batch_size=512)

max_epochs, warmup_epochs = 100, 10
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
    # Weight decay 0.04 -> 0.4 along a cosine over the whole run (groups with no decay stay at 0).
    dict(
        type='CosineAnnealingWeightDecay',
        eta_min=0.4,
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

custom_hooks = [
    dict(type='DINOTeacherTempHook', warmup_temp=0.04, temp=0.04, warmup=0),
    dict(type='DINOFreezeLastLayerHook', freeze=1),
    dict(type='DINOGradClipHook', max_norm=3.0),
]

default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=10, max_keep_ckpts=3))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
randomness = dict(seed=0, diff_rank_seed=True)

# MoCo v3 + LC-loss on CPU in minutes, on the photos bundled with installed packages (no download): the ViT-S/16
# recipe (mocov3-lc_vit-small-p16_16xb256-amp-coslr-300e_in1k.py) scaled down to a tiny ViT (192-d, 4 layers,
# 3 heads, patch 16, as the DINO demo), narrower projector and predictor with plain BN, 96 px views (a 6 x 6 patch
# map, the smallest even width at which the correspondence test means something), batch 8, 300 iterations in fp32.
# Taken over from the BYOL + LC demo (configs/byol_lc/byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py): alpha
# 0.5, EMA 0.99 -> 1 (also MoCo v3's own), the 30-iteration warm-up then cosine, the I_c / I_sc views. Not tuned at
# this scale (nothing here was measured): AdamW lr 5e-4 (MoCo v3's linear rule, 1.5e-4 x batch / 256, would give
# 4.7e-6 at batch 8) with MoCo v3's weight decay 0.1.
_base_ = 'mocov3-lc_vit-small-p16_16xb256-amp-coslr-300e_in1k.py'

size = 96

model = dict(
    alpha=0.5,
    base_momentum=0.01,
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=192 * 4),
        img_size=size),
    neck=dict(in_channels=192, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d')),
    head=dict(predictor=dict(in_channels=128, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d'))),
    local_neck=dict(in_channels=192, hid_channels=192, out_channels=128, norm_cfg=dict(type='BN')))

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='BundledPhotos',  # mmlc.datasets.DEMO_TRAIN_PHOTOS
        pipeline=[
            dict(type='LoadImageOrSkip'),
            dict(type='PairedCorrespondenceTransform', size=size),
            dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
        ]))

optim_wrapper = dict(type='OptimWrapper', _delete_=True, optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=270, by_epoch=False, begin=30, end=300),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=300)

default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=300, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))

# Online §4.6 metric as in the BYOL demo: flip correspondence accuracy of the patch-token map (6 x 6 at 96 px) and
# of the local projection, on the 8 held-out photos (`corr`) and the training photos (`corr_train`).
custom_hooks = [
    dict(type='CorrespondenceAccuracyHook', interval=50, size=size, name='corr'),
    dict(
        type='CorrespondenceAccuracyHook',
        interval=50,
        size=size,
        name='corr_train',
        max_images=16,
        names=('motorcycle_left', 'motorcycle_right', 'ihc', 'retina', 'camera', 'coins', 'moon', 'brick', 'page',
               'grass', 'gravel', 'cell', 'text')),
]

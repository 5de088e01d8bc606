# The CPU demo in MMSelfSup 1.0.0: the deltas of configs/byol_lc/byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py
# (the recipe, measured there; the README gives the runs) on this folder's paper recipe. Only the host's terms
# differ (EMA momentum convention, packer); tests/test_mmselfsup_host.py checks that every other value agrees.
#   python tools/train.py configs/mmselfsup/byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

size = 192  # a 6 x 6 last-stage map (stride 32)

model = dict(
    alpha=0.5,
    # EMA 0.99 -> 1 (MMSelfSup's momentum is the weight of the old parameters; mmpretrain's demo says 0.01).
    base_momentum=0.99,
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d')),
    head=dict(predictor=dict(in_channels=128, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d'))),
    local_neck=dict(in_channels=512, hid_channels=512, out_channels=128, norm_cfg=dict(type='BN'), with_relu=False))

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
            dict(type='PackSelfSupInputs', meta_keys=['img_path', 'sc_box', 'sc_flip', 'src_shape']),
        ]))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=0.3))
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

# The demo's online correspondence metric (§4.6) on the held-out photos, and on flip pairs of training photos.
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

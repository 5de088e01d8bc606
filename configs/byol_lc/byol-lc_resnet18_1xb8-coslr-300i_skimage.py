# Demo: BYOL + LC-loss pretraining on CPU in a few minutes, on the real photos bundled with
# scikit-image (no download). Same method as byol-lc_resnet50_16xb256-coslr-400e_in1k.py, scaled down: ResNet-18,
# 112 px views (4 x 4 last-stage map), batch 8, 300 iterations, narrower projectors, plain BN.
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

model = dict(
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d')),
    head=dict(
        predictor=dict(in_channels=128, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d'))),
    local_neck=dict(in_channels=512, hid_channels=512, out_channels=128, norm_cfg=dict(type='BN')))

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='SkimagePhotos',
        pipeline=[
            dict(type='LoadImageOrSkip'),
            dict(type='PairedCorrespondenceTransform', size=112),
            dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
        ]))

# The paper's linear rule (0.3 x batch / 256) would give LARS lr 0.009 at batch 8; the demo uses 0.3,
# with which both losses fall within its 300 steps.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=0.3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=270, by_epoch=False, begin=30, end=300),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=300)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=300, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))

# Online §4.6 metric: flip correspondence accuracy of the backbone's last stage on 4 held-out
# scikit-image photos, every 50 iterations (rank 0, no_grad); logged as `corr_acc`.
custom_hooks = [
    dict(type='CorrespondenceAccuracyHook', interval=50, names=('coins.png', 'moon.png', 'brick.png', 'page.png'),
         size=112),
]

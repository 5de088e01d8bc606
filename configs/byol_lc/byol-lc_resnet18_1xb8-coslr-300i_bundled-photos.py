# Demo: BYOL + LC-loss pretraining on CPU in minutes, on real photos bundled with installed packages (no
# download). Same method as byol-lc_resnet50_16xb256-coslr-400e_in1k.py, scaled down: ResNet-18, narrower
# projectors, plain BN, 192 px views. Recipe chosen by measurement on the training photos' flip pairs
# (`corr_train`), never on the held-out photos; the README gives the runs and their numbers.
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

size = 192  # a 6 x 6 last-stage map (stride 32): the smallest even width at which correspondence means something

model = dict(
    # alpha 0.5: at 300 steps the paper's 0.1 leaves the backbone's dense features to BYOL's pooled loss.
    alpha=0.5,
    # EMA 0.99 -> 1 (mmpretrain's momentum is the weight of the new parameters): with the paper's 0.996 the
    # target would still hold about half of its initial weights after 300 steps.
    base_momentum=0.01,
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d')),
    head=dict(predictor=dict(in_channels=128, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN1d'))),
    # conv-BN-conv as the paper's text (and its full-scale configs): a linear map of the backbone features.
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
            dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
        ]))

# The paper's linear rule (0.3 x batch / 256) would give LARS lr 0.009 at batch 8; the demo uses 0.3.
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

# Online §4.6 metric on the 8 held-out colour photos (mmlc.datasets.DEMO_HELD_OUT_PHOTOS): flip correspondence
# accuracy and same-position rate of the backbone's last map and of the local projection, and collapse
# diagnostics, before training and every 50 iterations (rank 0, no_grad), logged as `corr_*` and appended to
# <work_dir>/corr.jsonl. `corr_train` measures the same on flip pairs of the training photos (the recipe was
# tuned on it, never on the held-out photos).
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

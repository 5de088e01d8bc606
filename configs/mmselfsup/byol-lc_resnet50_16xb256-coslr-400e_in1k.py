# BYOL + local contrastive loss, the paper's recipe (§3, §4.1), in MMSelfSup 1.0.0: MMSelfSup's own BYOL config
# plus the deltas of configs/byol_lc/byol-lc_resnet50_16xb256-coslr-400e_in1k.py (the mmpretrain host), stated in
# MMSelfSup's terms. Same model, views, loss, optimiser and schedule; docs/mmselfsup.md lists what differs.
_base_ = 'mmselfsup::selfsup/byol/byol_resnet50_16xb256-coslr-200e_in1k.py'

custom_imports = dict(imports=['mmlc.mmselfsup'], allow_failed_imports=False)

model = dict(
    type='BYOLLocalContrast',
    # MMSelfSup's CosineEMA momentum is the weight of the *old* parameters: the paper's EMA 0.996 -> 1.
    base_momentum=0.996,
    alpha=0.1,
    local_neck=dict(type='LocalProjectionNeck', in_channels=2048, hid_channels=2048, out_channels=256, with_relu=False),
    local_head=dict(type='LCLossHead', tau=0.2))

train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='PairedCorrespondenceTransform', size=224, c_pipeline='byol-view1-solarize'),
    # MMSelfSup's packer takes only its own algorithm_keys: the crop records travel as metainfo.
    dict(type='PackSelfSupInputs', meta_keys=['img_path', 'sc_box', 'sc_flip', 'src_shape']),
]
# Inheriting across packages ('mmselfsup::') tags every base dict with `_scope_`; mmengine passes that tag on to
# the collate function as an argument, so the collate config is restated without it.
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'), dataset=dict(pipeline=train_pipeline))

# fp16 mixed precision; 10 warm-up epochs, then cosine to epoch 400.
optim_wrapper = dict(type='AmpOptimWrapper')
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=390, by_epoch=True, begin=10, end=400, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=400)

default_hooks = dict(logger=dict(interval=50))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])

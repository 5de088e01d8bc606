# Plain BYOL baseline with the paper's schedule (§4.1), for comparison with byol-lc_resnet50_16xb256-coslr-400e_in1k.py:
# ResNet-50, 16 GPUs x 256 = 4096 images per step, LARS lr 4.8 (= 0.3 x 4096 / 256), momentum 0.9,
# weight decay 1e-6 (BN and biases excluded, from the base), 10 warm-up epochs then cosine, 400 epochs,
# target EMA 0.996 -> 1, fp16 mixed precision.
_base_ = 'mmpretrain::byol/byol_resnet50_16xb256-coslr-200e_in1k.py'

# mmpretrain's CosineEMA momentum is the weight of the *new* parameters: EMA 0.996 -> 1 is 0.004 -> 0.
model = dict(base_momentum=0.004)

# fp16 mixed precision (AmpOptimWrapper's default loss scale is dynamic).
optim_wrapper = dict(type='AmpOptimWrapper')

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=390, by_epoch=True, begin=10, end=400, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=400)

default_hooks = dict(logger=dict(interval=50))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])

# Inheriting across packages ('mmpretrain::') tags every base dict with `_scope_`; mmengine passes that tag
# on to the collate function as an argument, so the collate config is restated without it.
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))

# Mid-scale BYOL + LC for one 8-GPU node (docs/mid_scale.md): the paper's default model (alpha 0.1, tau 0.2,
# local projection on the last stage) on ImageNet-100. Deltas on byol-lc_resnet50_16xb256-coslr-400e_in1k.py,
# the same ones as the BYOL baseline byol_resnet50_8xb256-coslr-200e_in100.py (see its comments for why):
# 8 GPUs x 256 = 2048 images per step, LARS lr 0.3 x 2048 / 256 = 2.4, 200 epochs with 5 warm-up epochs (the
# paper's 2.5% share), data from data/imagenet100/.
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

data_root = 'data/imagenet100/'
train_dataloader = dict(dataset=dict(data_root=data_root))

optim_wrapper = dict(optimizer=dict(lr=2.4))  # 0.3 x 2048 / 256, the linear scaling rule
auto_scale_lr = dict(base_batch_size=2048)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=195, by_epoch=True, begin=5, end=200, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)

# An epoch is only ~62 steps here: a checkpoint (with the optimiser state) every 10 epochs, not every epoch.
default_hooks = dict(checkpoint=dict(interval=10))

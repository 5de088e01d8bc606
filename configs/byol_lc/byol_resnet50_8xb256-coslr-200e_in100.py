# Mid-scale BYOL baseline for one 8-GPU node (docs/mid_scale.md): the paper's recipe (§4.1) on ImageNet-100,
# for comparison with byol-lc_resnet50_8xb256-coslr-200e_in100.py. Deltas on the 16-GPU ImageNet-1k baseline:
# 8 GPUs x 256 = 2048 images per step, data from data/imagenet100/, 200 epochs. Everything else is the paper's:
# ResNet-50, LARS (momentum 0.9, weight decay 1e-6, BN and biases excluded), cosine schedule after a linear
# warm-up, target EMA 0.996 -> 1, fp16, 224 px. Keep the schedule identical to the BYOL + LC config's.
_base_ = 'byol_resnet50_16xb256-coslr-400e_in1k.py'

# ImageNet-100 (the CMC class list) in mmpretrain's ImageNet layout: train/<wnid>/*.JPEG and meta/train.txt,
# made by tools/dataset_converters/imagenet_subset.py (meta/train.txt is required: without it mmpretrain's
# ImageNet scans the folders and expects all 1000 classes).
data_root = 'data/imagenet100/'
train_dataloader = dict(dataset=dict(data_root=data_root))

# The paper's linear scaling rule, base lr 0.3 per 256 images: 0.3 x 2048 / 256 = 2.4. `--auto-scale-lr` scales
# from this pair (2.4 at 2048), so another GPU count keeps the same rule.
optim_wrapper = dict(optimizer=dict(lr=2.4))
auto_scale_lr = dict(base_batch_size=2048)

# 200 epochs, not 100: ImageNet-100's ~127k images are 62 steps per epoch at 2048 images, so 100 epochs would be
# ~6.2k steps, a fifth of the paper's shortest schedule (100 ImageNet-1k epochs at 4096 = 31.3k steps), and the
# EMA target and LARS act per step. 200 epochs (~12.4k steps) still see only ~1/5 of that schedule's images
# (25.3M vs 128M), and they match the paper's own 200-epoch comparisons (Table 5, Table 6, Fig. 3b).
# Warm-up: 5 epochs (~310 steps), the same 2.5% share as the paper's 10 of 400 epochs.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=195, by_epoch=True, begin=5, end=200, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)

# An epoch is only ~62 steps here: a checkpoint (with the optimiser state) every 10 epochs, not every epoch.
default_hooks = dict(checkpoint=dict(interval=10))

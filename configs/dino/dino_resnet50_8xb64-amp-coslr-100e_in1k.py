# DINO with ResNet-50, the official README's 100-epoch convnet run (facebookresearch/dino, "ResNet-50 and other
# convnets trainings": `main_dino.py --arch resnet50 --optimizer sgd --lr 0.03 --weight_decay 1e-4
# --weight_decay_end 1e-4 --global_crops_scale 0.14 1 --local_crops_scale 0.05 0.14` on 8 GPUs, the other arguments
# at their defaults):
#   8 GPUs x 64 images, fp16; SGD momentum 0.9, lr 0.03 x 512 / 256 = 0.06 after a 10-epoch warm-up, cosine to 1e-6;
#   constant weight decay 1e-4 (biases and BN parameters excluded); global crops scale (0.14, 1) at 224 px, 8 local
#   crops scale (0.05, 0.14) at 96 px; DINO head 2048 -> 2048 -> 2048 -> 256 -> 65536 without BN (use_bn_in_head
#   False), norm_last_layer True; teacher 0.04, student 0.1, centre momentum 0.9, teacher EMA 0.996 -> 1; last layer
#   frozen for 1 epoch; per-tensor gradient clipping 3.0; SyncBN in the backbone (DINO converts every BN to SyncBN,
#   teacher included); torchvision's ResNet-50 init (no zero-init of the last BN in each block).
# Not confirmed here: the released 800-epoch ResNet-50 checkpoint's own arguments (its args.txt, reportedly LARS,
# other crop scales and a BN head) could not be read; this config follows the README command, which could.
_base_ = 'dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py'

model = dict(
    backbone=dict(_delete_=True, type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=False),
    neck=dict(in_channels=2048, with_avg_pool=True))

global_crops_scale, local_crops_scale = (0.14, 1.), (0.05, 0.14)
global_view1, global_view2 = ([
    dict(t, scale=_base_.global_size, crop_ratio_range=global_crops_scale) if t['type'] == 'RandomResizedCrop' else t
    for t in view
] for view in (_base_.view_pipeline1, _base_.view_pipeline2))
local_view = [
    dict(t, scale=_base_.local_size, crop_ratio_range=local_crops_scale)
    if t['type'] == 'RandomResizedCrop' else dict(t, prob=0.5) if t['type'] == 'GaussianBlur' else t
    for t in _base_.view_pipeline1 if t['type'] != 'Solarize'
]
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(
            type='MultiView',
            num_views=[1, 1, _base_.num_local_crops],
            transforms=[global_view1, global_view2, local_view]),
        dict(type='PackInputs'),
    ]))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='SGD', lr=0.03 * 512 / 256, momentum=0.9, weight_decay=1e-4))

# Learning-rate warm-up and cosine as the base; the weight decay stays at 1e-4 (--weight_decay_end 1e-4).
param_scheduler = _base_.param_scheduler[:2]

# Table 3, Cityscapes segmentation: FCN R50-D8 fine-tuned on train (fine) for 40k iterations (batch 8) at
# 769x769 crops, mIoU on val; mmseg's recipe (the one DenseCL/PixPro/MMSelfSup benchmarks use) with one
# change: a *plain* ResNet-50 (not mmseg's ResNetV1c) initialised from an mmlc checkpoint.
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py'

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)  # loads full Runner checkpoints

model = dict(
    pretrained=None,  # the base's 'open-mmlab://resnet50_v1c' would clash with init_cfg
    backbone=dict(
        type='ResNet',
        frozen_stages=-1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained', checkpoint='work_dirs/byol_lc_r50_16xb256-400e/epoch_400.pth',
            prefix='backbone.')))

# Table 3, Cityscapes segmentation: FCN R50-D8 fine-tuned on train (fine) for 40k iterations (batch 8) at
# 769x769 crops, mIoU on val; mmseg's recipe (the one DenseCL/PixPro/MMSelfSup benchmarks use) with one
# change: a *plain* ResNet-50 (not mmseg's ResNetV1c) initialised from an mmlc checkpoint.
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py', '../_base_/mmlc_resnet50.py']

model = dict(
    pretrained=None,  # the base's 'open-mmlab://resnet50_v1c' would clash with init_cfg
    backbone=dict(type='ResNet', **_base_.mmlc_backbone))

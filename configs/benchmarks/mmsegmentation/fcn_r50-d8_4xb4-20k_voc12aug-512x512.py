# Table 3, PASCAL VOC segmentation: FCN R50-D8 fine-tuned on train_aug 2012 for 20k iterations (batch 16),
# mIoU on val 2012; mmseg's recipe with one change: a *plain* ResNet-50 (mmseg's base uses ResNetV1c,
# whose deep stem an mmlc checkpoint does not have) initialised from an mmlc checkpoint.
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py', '../_base_/mmlc_resnet50.py']

model = dict(
    pretrained=None,  # the base's 'open-mmlab://resnet50_v1c' would clash with init_cfg
    backbone=dict(type='ResNet', **_base_.mmlc_backbone))

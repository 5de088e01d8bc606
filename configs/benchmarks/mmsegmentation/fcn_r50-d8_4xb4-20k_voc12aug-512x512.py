# Table 3, PASCAL VOC segmentation: FCN R50-D8 fine-tuned on train_aug 2012 for 20k iterations (batch 16),
# mIoU on val 2012; mmseg's recipe with one change: a *plain* ResNet-50 (mmseg's base uses ResNetV1c,
# whose deep stem an mmlc checkpoint does not have) initialised from an mmlc checkpoint.
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'

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

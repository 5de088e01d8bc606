# Table 4, Cityscapes segmentation with a frozen backbone: the whole ResNet-50 (stem, 4 stages, BN
# statistics) is fixed; the FCN heads are trained. Otherwise identical to the fine-tuning protocol.
_base_ = 'fcn_r50-d8_4xb2-40k_cityscapes-769x769.py'

model = dict(backbone=dict(frozen_stages=4, norm_eval=True))

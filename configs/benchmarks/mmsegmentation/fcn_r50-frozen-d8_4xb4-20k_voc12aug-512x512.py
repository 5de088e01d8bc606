# Table 4, VOC segmentation with a frozen backbone: the whole ResNet-50 (stem, 4 stages, BN statistics) is
# fixed; the FCN decode and auxiliary heads are trained. Otherwise identical to the fine-tuning protocol.
_base_ = 'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(backbone=dict(frozen_stages=4, norm_eval=True))

# Table 4, COCO detection with a frozen backbone: the whole ResNet-50 (stem, 4 stages, BN statistics) is
# fixed; FPN and the RetinaNet head are trained. Otherwise identical to the fine-tuning protocol.
_base_ = 'retinanet_r50_fpn_8xb2-90k_coco.py'

model = dict(backbone=dict(frozen_stages=4, norm_eval=True))

# Table 4, VOC detection with a frozen backbone: the whole ResNet-50 (stem, 4 stages, BN statistics) is
# fixed; FPN, RPN and the RoI head are trained. Otherwise identical to the fine-tuning protocol.
_base_ = 'faster-rcnn_r50_fpn_8xb2-24k_voc0712-cocofmt.py'

model = dict(backbone=dict(frozen_stages=4, norm_eval=True))

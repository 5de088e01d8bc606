# Table 1, COCO detection: RetinaNet R50-FPN, all layers fine-tuned with SyncBN, 90k iterations on
# train2017 (batch 16), evaluated on val2017. mmdet's own 90k schedule; only the backbone changes:
# plain ResNet-50 from an mmlc checkpoint, SyncBN, no frozen stage, BN statistics updated
# (../_base_/mmlc_resnet50.py).
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_90k_coco.py', '../_base_/mmlc_resnet50.py']

model = dict(backbone=_base_.mmlc_backbone)

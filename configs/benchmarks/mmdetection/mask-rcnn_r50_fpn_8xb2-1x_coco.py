# Table 1, COCO detection and instance segmentation: Mask R-CNN R50-FPN, 1x schedule (12 epochs, batch
# 16) on train2017, box and mask AP on val2017. mmdet's 1x recipe; only the backbone changes: plain
# ResNet-50 from an mmlc checkpoint, SyncBN, no frozen stage, BN statistics updated.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../_base_/mmlc_resnet50.py']

model = dict(backbone=_base_.mmlc_backbone)

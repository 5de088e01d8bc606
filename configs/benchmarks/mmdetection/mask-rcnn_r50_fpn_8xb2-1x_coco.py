# Table 1, COCO detection and instance segmentation: Mask R-CNN R50-FPN, 1x schedule (12 epochs, batch
# 16) on train2017, box and mask AP on val2017. mmdet's 1x recipe; only the backbone changes: plain
# ResNet-50 from an mmlc checkpoint, SyncBN, no frozen stage, BN statistics updated.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)  # loads full Runner checkpoints

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained', checkpoint='work_dirs/byol_lc_r50_16xb256-400e/epoch_400.pth',
            prefix='backbone.')))

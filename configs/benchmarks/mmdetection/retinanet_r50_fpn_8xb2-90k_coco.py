# Table 1, COCO detection: RetinaNet R50-FPN, all layers fine-tuned with SyncBN, 90k iterations on
# train2017 (batch 16), evaluated on val2017. mmdet's own 90k schedule; only the backbone changes:
# plain ResNet-50 from an mmlc checkpoint, SyncBN, no frozen stage, BN statistics updated.
# Pass the checkpoint with tools/benchmarks/mmdetection/dist_train.sh CONFIG PRETRAIN GPUS; a full
# pretraining Runner checkpoint or tools/model_converters/extract_backbone.py --keep-prefix output.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_90k_coco.py'

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)  # loads full Runner checkpoints

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained', checkpoint='work_dirs/byol_lc_r50_16xb256-400e/epoch_400.pth',
            prefix='backbone.')))

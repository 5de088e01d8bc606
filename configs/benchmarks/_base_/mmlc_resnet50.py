# What every downstream protocol changes in mmdet's / mmseg's recipe: the backbone is a plain ResNet-50
# whose weights come from an mmlc pretraining checkpoint (a full Runner checkpoint, or the output of
# tools/model_converters/extract_backbone.py --keep-prefix), with SyncBN, no frozen stage and BN statistics
# updated. A protocol config lists this file among its bases and sets
#   model = dict(backbone=_base_.mmlc_backbone)
# The frozen-backbone variants then override frozen_stages and norm_eval. Pass the checkpoint with
# tools/benchmarks/{mmdetection,mmsegmentation}/dist_train.sh CONFIG PRETRAIN GPUS.
custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)  # loads full Runner checkpoints

mmlc_backbone = dict(
    frozen_stages=-1,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    norm_eval=False,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='work_dirs/byol-lc_resnet50_16xb256-coslr-400e_in1k/epoch_400.pth',
        prefix='backbone.'))

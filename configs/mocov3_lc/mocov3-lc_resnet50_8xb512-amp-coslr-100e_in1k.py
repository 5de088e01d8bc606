# MoCo v3 + local contrastive loss on ResNet-50: mmpretrain's MoCo v3 ResNet-50 recipe (model, LARS, warm-up + cosine,
# 100 epochs, 8 GPUs x 512, fp16) with LC-loss as BYOL + LC has it (alpha = 0.1, tau = 0.2, the paper's local
# projection on the last stage: 1x1 conv 2048 -> 2048, BN, 1x1 conv -> 256): the momentum encoder's 7 x 7
# last-stage map of I_c against the online map of I_sc. The global projector pools the same last-stage map, as in
# MoCo v3.
# Views: MoCo v3's two random resized crops become the paper's pair (see BYOL + LC's recipe,
# configs/byol_lc/byol-lc_resnet50_16xb256-coslr-400e_in1k.py): I_c = the whole image resized + colour, I_sc = a
# random resized crop at MoCo v3's ResNet scale (0.2, 1) + flip + colour. MoCo v3's colour augmentations are BYOL's
# (same jitter, grey, blur and solarisation probabilities per view), so the BYOL presets apply unchanged.
_base_ = 'mmpretrain::mocov3/mocov3_resnet50_8xb512-amp-coslr-100e_in1k.py'

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)

model = dict(
    type='MoCoV3LocalContrast',
    alpha=0.1,
    local_neck=dict(
        type='LocalProjectionNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=256,
        norm_cfg=dict(type='SyncBN'),
        with_relu=False),
    local_head=dict(type='LCLossHead', tau=0.2))

train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(
        type='PairedCorrespondenceTransform',
        size=224,
        scale=_base_.view_pipeline2[0]['crop_ratio_range'],
        c_pipeline='byol-view1-solarize'),
    dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
]
# Inheriting across packages ('mmpretrain::') tags every base dict with `_scope_`; mmengine passes that tag on to
# the collate function as an argument, so the collate config is restated without it.
train_dataloader = dict(dataset=dict(pipeline=train_pipeline), collate_fn=dict(_delete_=True, type='default_collate'))

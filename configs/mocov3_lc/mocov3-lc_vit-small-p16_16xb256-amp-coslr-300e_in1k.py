# MoCo v3 + local contrastive loss on ViT-S/16: mmpretrain's MoCo v3 recipe (model, AdamW, warm-up + cosine, 300 epochs,
# 16 GPUs x 256, fp16) with LC-loss (alpha = 0.1, tau = 0.2, the paper's BYOL values) on the patch tokens of the
# last layer: the momentum encoder's 14 x 14 token map of I_c against the online map of I_sc.
# Views: MoCo v3's two random resized crops become the paper's pair (see BYOL + LC's recipe,
# configs/byol_lc/byol-lc_resnet50_16xb256-coslr-400e_in1k.py): I_c = the whole image resized + colour, I_sc = a
# random resized crop (0.08-1, MoCo v3's ViT scale) + flip + colour. MoCo v3's colour augmentations are BYOL's
# (same jitter, grey, blur and solarisation probabilities per view), so the BYOL presets apply unchanged.
# The backbone runs with out_type='raw' (MoCoV3LocalContrast sets it): the class token feeds the projector as in
# MoCo v3, the patch tokens the local branch.
_base_ = 'mmpretrain::mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py'

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)

model = dict(
    type='MoCoV3LocalContrast',
    alpha=0.1,
    # conv-BN-conv on the tokens as the paper's local projection (§4.1), hidden width = token width.
    local_neck=dict(
        type='TokenLocalProjectionNeck', in_channels=384, hid_channels=384, out_channels=256, with_relu=False),
    local_head=dict(type='LCLossHead', tau=0.2))

train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='PairedCorrespondenceTransform', size=224, c_pipeline='byol-view1-solarize'),
    dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
]
# Inheriting across packages ('mmpretrain::') tags every base dict with `_scope_`; mmengine passes that tag on to
# the collate function as an argument, so the collate config is restated without it.
train_dataloader = dict(dataset=dict(pipeline=train_pipeline), collate_fn=dict(_delete_=True, type='default_collate'))

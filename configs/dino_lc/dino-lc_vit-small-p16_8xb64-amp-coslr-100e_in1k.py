# DINO + local contrastive loss on ViT-S/16: the DINO ViT-S/16 recipe (../dino/dino_vit-small-p16_8xb64-amp-coslr-
# 100e_in1k.py: model, multi-crop, AdamW, schedules, hooks) with LC-loss (alpha = 0.1, tau = 0.2, the paper's BYOL
# values) on the patch tokens of the last layer: the teacher's 14 x 14 token map of I_c against the student's map
# of I_sc (DINOLocalContrast explains the choice).
# Views: DINO's two global crops become the paper's pair, made by PairedMultiCrop together with DINO's 8 local crops
# (untouched, no part in LC): I_c = the whole image resized + the first global view's colour transforms (blur p 1,
# no solarisation); I_sc = a random resized crop at DINO's global scale (0.4, 1) + flip + the second global view's
# colour transforms (blur p 0.1, solarisation p 0.2). DINO's loss therefore sees I_c and I_sc instead of two
# random crops.
# The backbone outputs raw tokens: the class token feeds DINO's head as before, the patch tokens the local branch.
# The local projection is the paper's conv-BN-conv per token (TokenLocalProjectionNeck), hidden width = token width;
# its norm is excluded from weight decay by the base recipe's norm_decay_mult=0.
_base_ = '../dino/dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py'

model = dict(
    type='DINOLocalContrast',
    alpha=0.1,
    backbone=dict(out_type='raw'),
    local_neck=dict(
        type='TokenLocalProjectionNeck', in_channels=384, hid_channels=384, out_channels=256, with_relu=False),
    local_head=dict(type='LCLossHead', tau=0.2))

# I_c takes the first global view's colour transforms, I_sc the second's crop scale, flip and colour transforms.
_geometric = ('RandomResizedCrop', 'RandomFlip')
paired_views = dict(
    type='PairedCorrespondenceTransform',
    size=_base_.global_size,
    scale=_base_.global_crops_scale,
    flip_prob=[t['prob'] for t in _base_.global_view2 if t['type'] == 'RandomFlip'][0],
    c_pipeline=[t for t in _base_.global_view1 if t['type'] not in _geometric],
    sc_pipeline=[t for t in _base_.global_view2 if t['type'] not in _geometric])
train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(
        type='PairedMultiCrop', transforms=[[paired_views], _base_.local_view], num_local_crops=_base_.num_local_crops),
    dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

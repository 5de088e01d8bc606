# DINO + local contrastive loss on ResNet-50: the DINO ResNet-50 recipe (../dino/dino_resnet50_8xb64-amp-coslr-100e_
# in1k.py: SGD, global crops (0.14, 1), local crops (0.05, 0.14), hooks) with LC-loss as BYOL + LC has it (alpha =
# 0.1, tau = 0.2, the paper's local projection on the last stage: 1x1 conv 2048 -> 2048, BN, 1x1 conv -> 256): the
# teacher's 7 x 7 last-stage map of I_c against the student's map of I_sc.
# Views: as the ViT-S/16 DINO + LC recipe (dino-lc_vit-small-p16_8xb64-amp-coslr-100e_in1k.py): I_c (whole image +
# the first global view's colour) and I_sc (a random resized crop at the global scale + flip + the second global
# view's colour) replace DINO's two global crops; DINO's local crops stay as they are.
_base_ = '../dino/dino_resnet50_8xb64-amp-coslr-100e_in1k.py'

model = dict(
    type='DINOLocalContrast',
    alpha=0.1,
    local_neck=dict(
        type='LocalProjectionNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=256,
        norm_cfg=dict(type='SyncBN'),
        with_relu=False),
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

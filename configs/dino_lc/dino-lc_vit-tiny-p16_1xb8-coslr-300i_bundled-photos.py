# DINO + LC-loss on CPU in minutes, on the photos bundled with installed packages (no download): the DINO CPU demo
# (../dino/dino_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py: tiny ViT, 2 global crops at 64 px + 4 local crops
# at 32 px, batch 8, 300 iterations, fp32) with the ViT-S/16 DINO + LC recipe's changes
# (dino-lc_vit-small-p16_8xb64-amp-coslr-100e_in1k.py): raw token output, I_c / I_sc in place of the two global
# crops, LC-loss on the 4 x 4 patch-token map (tau 0.2) through a conv-BN-conv token projection sized for the
# tiny ViT (192 -> 192 -> 128, plain BN). Taken over from the BYOL + LC and MoCo v3 + LC demos, not tuned at this
# scale (nothing here was measured): alpha 0.5. Everything else, the view sizes included, is the DINO demo's, so
# that the two configs differ only in the views and the local loss (the mini study sets the view size of both).
_base_ = '../dino/dino_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'

model = dict(
    type='DINOLocalContrast',
    alpha=0.5,
    backbone=dict(out_type='raw'),
    local_neck=dict(
        type='TokenLocalProjectionNeck',
        in_channels=192,
        hid_channels=192,
        out_channels=128,
        norm_cfg=dict(type='BN'),
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
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(
            type='PairedMultiCrop',
            transforms=[[paired_views], _base_.local_view],
            num_local_crops=_base_.num_local_crops),
        dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
    ]))

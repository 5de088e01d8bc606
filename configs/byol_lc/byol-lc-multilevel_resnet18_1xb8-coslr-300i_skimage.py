# The CPU demo with LC-loss on ResNet-18's last three stages (16x16, 8x8 and 4x4 maps at 128 px).
_base_ = 'byol-lc_resnet18_1xb8-coslr-300i_skimage.py'

model = dict(
    backbone=dict(out_indices=(1, 2, 3)),
    local_neck=[
        dict(type='LocalProjectionNeck', in_channels=128, hid_channels=128, out_channels=128, in_index=0,
             norm_cfg=dict(type='BN')),
        dict(type='LocalProjectionNeck', in_channels=256, hid_channels=256, out_channels=128, in_index=1,
             norm_cfg=dict(type='BN')),
        dict(type='LocalProjectionNeck', in_channels=512, hid_channels=512, out_channels=128, in_index=2,
             norm_cfg=dict(type='BN')),
    ],
    local_weights=[1 / 3, 1 / 3, 1 / 3])

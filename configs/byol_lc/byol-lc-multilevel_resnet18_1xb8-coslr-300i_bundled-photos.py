# The CPU demo with LC-loss on ResNet-18's last three stages (24x24, 12x12 and 6x6 maps at 192 px), with
# conv-BN-conv necks as the demo's.
_base_ = 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py'

model = dict(
    backbone=dict(out_indices=(1, 2, 3)),
    local_neck=[
        dict(
            type='LocalProjectionNeck',
            in_channels=128,
            hid_channels=128,
            out_channels=128,
            in_index=0,
            norm_cfg=dict(type='BN'),
            with_relu=False),
        dict(
            type='LocalProjectionNeck',
            in_channels=256,
            hid_channels=256,
            out_channels=128,
            in_index=1,
            norm_cfg=dict(type='BN'),
            with_relu=False),
        dict(
            type='LocalProjectionNeck',
            in_channels=512,
            hid_channels=512,
            out_channels=128,
            in_index=2,
            norm_cfg=dict(type='BN'),
            with_relu=False),
    ],
    local_weights=[1 / 3, 1 / 3, 1 / 3])

# Beyond the paper: LC-loss on C3, C4 and C5 (strides 8, 16, 32; 28x28, 14x14 and 7x7 maps at 224 px), one
# local projection neck per stage (conv-BN-conv, as the paper's single neck), equal weights. The paper's
# limitation (§5) was the cost of LC-loss above the 7x7 map; the memory-lean loss path (selected automatically
# above 5x5 maps) removes it.
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

model = dict(
    backbone=dict(out_indices=(1, 2, 3)),  # the global neck reads the last output (C5)
    local_neck=[
        # in_index picks from the backbone's output tuple (C3, C4, C5).
        dict(
            type='LocalProjectionNeck',
            in_channels=512,
            hid_channels=512,
            out_channels=256,
            in_index=0,
            with_relu=False),
        dict(
            type='LocalProjectionNeck',
            in_channels=1024,
            hid_channels=1024,
            out_channels=256,
            in_index=1,
            with_relu=False),
        dict(
            type='LocalProjectionNeck',
            in_channels=2048,
            hid_channels=2048,
            out_channels=256,
            in_index=2,
            with_relu=False),
    ],
    local_weights=[1 / 3, 1 / 3, 1 / 3])

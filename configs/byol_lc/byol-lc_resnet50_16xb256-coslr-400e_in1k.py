# BYOL + local contrastive loss, the paper's recipe (§3, §4.1): the BYOL baseline's model, optimiser and
# schedule, plus a local projection branch on the last ResNet stage and LC-loss with weight alpha = 0.1.
# Views: I_c = whole image resized + colour (§3 lists blur, solarisation and colour distortion: BYOL's view-1
# transforms plus solarisation, p = 0.2); I_sc = random resized crop + flip + BYOL's view-2 colour.
# Local projection as §4.1 describes it: 1x1 conv 2048 -> 2048, BN, 1x1 conv -> 256 (no ReLU is mentioned).
_base_ = 'byol_resnet50_16xb256-coslr-400e_in1k.py'

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)

model = dict(
    type='BYOLLocalContrast',
    alpha=0.1,
    local_neck=dict(type='LocalProjectionNeck', in_channels=2048, hid_channels=2048, out_channels=256, with_relu=False),
    local_head=dict(type='LCLossHead', tau=0.2))

train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='PairedCorrespondenceTransform', size=224, c_pipeline='byol-view1-solarize'),
    dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# BYOL + local contrastive loss, the paper's recipe (§3, §4.1): the BYOL baseline's model, optimiser and
# schedule, plus a local projection branch on the last ResNet stage and LC-loss with weight alpha = 0.1.
# Views: I_c = whole image resized + BYOL view-1 colour; I_sc = random resized crop + flip + view-2 colour.
_base_ = 'byol_resnet50_16xb256-coslr-400e_in1k.py'

custom_imports = dict(imports=['mmlc'], allow_failed_imports=False)

model = dict(
    type='BYOLLocalContrast',
    alpha=0.1,
    local_neck=dict(type='LocalProjectionNeck', in_channels=2048, hid_channels=2048, out_channels=256),
    local_head=dict(type='LCLossHead', tau=0.2))

train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='PairedCorrespondenceTransform', size=224),
    dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# mmpretrain's DenseCL at the CPU demo's scale, for tools/analysis/mini_study.py (`--runs densecl`): the demo's
# ResNet-18, data, optimiser, schedule and correspondence hook, on plain BYOL's views, so that byol -> densecl
# compares the objectives only.
_base_ = '../byol_lc/byol_resnet18_1xb8-coslr-300i_bundled-photos.py'

model = dict(
    _delete_=True,
    type='DenseCL',
    queue_len=64,  # a few dozen images: a long queue would hold stale copies of the same ones; divisible by the batch
    feat_dim=128,
    momentum=_base_.model.base_momentum,  # mmpretrain's DenseCL momentum is also the weight of the new parameters
    loss_lambda=0.5,
    backbone=_base_.model.backbone,
    neck=dict(
        type='DenseCLNeck',
        in_channels=_base_.model.neck.in_channels,
        hid_channels=_base_.model.neck.in_channels,
        out_channels=128,
        num_grid=None),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
find_unused_parameters = True

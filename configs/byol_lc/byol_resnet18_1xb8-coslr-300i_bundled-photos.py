# Plain BYOL at the CPU demo's scale, the baseline of tools/analysis/mini_study.py: mmpretrain's BYOL model with the
# demo's backbone, projector, predictor and EMA, trained on BYOL's own views (two random resized crops,
# mmpretrain's imagenet_bs32_byol.py) at the demo's view size; data, optimiser, schedule and the correspondence
# hook are the demo's.
_base_ = 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py'

model = dict(
    _delete_=True,
    type='BYOL',
    backbone=_base_.model.backbone,
    neck=_base_.model.neck,
    head=_base_.model.head,
    base_momentum=_base_.model.base_momentum)

# The demo's view side, read off its paired transform so that a re-tuned demo carries over.
_view_size = [
    t['size'] for t in _base_.train_dataloader.dataset.pipeline if t['type'] == 'PairedCorrespondenceTransform'
][0]
# mmpretrain's two BYOL view pipelines (inherited through the demo's bases) at that size.
_byol_views = [[dict(t, scale=_view_size) if t['type'] == 'RandomResizedCrop' else t for t in view]
               for view in (_base_.view_pipeline1, _base_.view_pipeline2)]
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(type='MultiView', num_views=[1, 1], transforms=_byol_views),
        dict(type='PackInputs'),
    ]))

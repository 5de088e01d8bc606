# Plain MoCo v3 at the CPU demo's scale, the baseline of the mini study's `mocov3` run: mmpretrain's MoCoV3 with the
# demo's tiny ViT (class-token output), projector, predictor and EMA, trained on MoCo v3's own views (two random
# resized crops, mmpretrain's ViT-S/16 pipelines) at the demo's view size; data, optimiser and schedule are the
# demo's (mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py).
_base_ = 'mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'

model = dict(
    _delete_=True,
    type='MoCoV3',
    backbone=_base_.model.backbone,
    neck=_base_.model.neck,
    head=_base_.model.head,
    base_momentum=_base_.model.base_momentum)

# The demo's view side, read off its paired transform so that a re-tuned demo carries over.
_view_size = [
    t['size'] for t in _base_.train_dataloader.dataset.pipeline if t['type'] == 'PairedCorrespondenceTransform'
][0]
# mmpretrain's two MoCo v3 ViT view pipelines (inherited through the demo's bases) at that size.
_mocov3_views = [[dict(t, scale=_view_size) if t['type'] == 'RandomResizedCrop' else t for t in view]
                 for view in (_base_.view_pipeline1, _base_.view_pipeline2)]
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(type='MultiView', num_views=[1, 1], transforms=_mocov3_views),
        dict(type='PackInputs'),
    ]))

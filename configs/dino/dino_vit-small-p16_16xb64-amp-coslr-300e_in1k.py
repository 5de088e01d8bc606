# DINO ViT-S/16, the official README's "boosted" run (facebookresearch/dino, "Boosting DINO performance":
# `run_with_submitit.py --arch vit_small --epochs 300 --teacher_temp 0.07 --warmup_teacher_temp_epochs 30
# --norm_last_layer false`, 16 GPUs x 64 images): 300 epochs, teacher temperature 0.04 -> 0.07 (linear over the
# first 30 epochs), trainable weight-norm gains on the prototypes; lr 0.0005 x 1024 / 256 = 0.002. Everything else
# as the vanilla run, dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py.
_base_ = 'dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py'

model = dict(neck=dict(norm_last_layer=False))

optim_wrapper = dict(optimizer=dict(lr=0.0005 * 1024 / 256))
auto_scale_lr = dict(base_batch_size=1024)

max_epochs, warmup_epochs = 300, 10
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingWeightDecay',
        eta_min=0.4,
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)

custom_hooks = [
    dict(type='DINOTeacherTempHook', warmup_temp=0.04, temp=0.07, warmup=30),
    dict(type='DINOFreezeLastLayerHook', freeze=1),
    dict(type='DINOGradClipHook', max_norm=3.0),
]

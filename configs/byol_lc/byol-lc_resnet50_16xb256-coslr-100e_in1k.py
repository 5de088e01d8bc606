# The paper's 100-epoch schedule (Table 5, Fig. 3a): warm-up 10 epochs, cosine to epoch 100.
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=10, end=100, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)

# 200 epochs at 160 x 160 px views: the paper's efficient setting (Table 5) and its alpha ablation (Fig. 3b).
_base_ = 'byol-lc_resnet50_16xb256-coslr-200e_in1k.py'

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(type='PairedCorrespondenceTransform', size=160),
        dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
    ]))

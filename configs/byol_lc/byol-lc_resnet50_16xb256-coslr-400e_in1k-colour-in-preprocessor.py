# The paper's recipe (byol-lc_resnet50_16xb256-coslr-400e_in1k.py) with the colour augmentations in the model's data
# preprocessor instead of the data workers: the same pipelines (I_c: BYOL's view 1 plus solarisation, I_sc: BYOL's
# view 2) run batched on each GPU, per sample, with a random stream per rank and iteration; the workers decode,
# resize, crop and flip only.
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

data_preprocessor = dict(type='ColourAugDataPreprocessor', view_pipelines=['byol-view1-solarize', 'byol-view2'])

train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='PairedCorrespondenceTransform', size=224, c_pipeline=[], sc_pipeline=[]),
    dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

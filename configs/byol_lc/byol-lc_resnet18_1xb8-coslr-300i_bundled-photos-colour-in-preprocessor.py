# The CPU demo (byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py) with the colour augmentations moved from the
# data workers into the model's data preprocessor: the workers decode, resize, crop and flip; the same colour
# pipelines (BYOL's view 1 for I_c, view 2 for I_sc) run batched on the model's device, per sample, with a random
# stream per rank and iteration. Same parameters give the CPU transforms' images (tests/test_models/
# test_colour_preprocessor.py).
_base_ = 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py'

data_preprocessor = dict(type='ColourAugDataPreprocessor', view_pipelines=['byol-view1', 'byol-view2'])

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(type='PairedCorrespondenceTransform', size={{_base_.size}}, c_pipeline=[], sc_pipeline=[]),
        dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape']),
    ]))

# The CPU demo with the symmetric LC-loss.
_base_ = 'byol-lc_resnet18_1xb8-coslr-300i_skimage.py'

model = dict(symmetric=True)

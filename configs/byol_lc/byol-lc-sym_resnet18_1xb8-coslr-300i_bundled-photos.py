# The CPU demo with the symmetric LC-loss.
_base_ = 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py'

model = dict(symmetric=True)

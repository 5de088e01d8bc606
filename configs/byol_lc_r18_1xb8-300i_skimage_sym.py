# The CPU demo with the symmetric LC-loss.
_base_ = 'byol_lc_r18_1xb8-300i_skimage.py'

model = dict(symmetric=True)

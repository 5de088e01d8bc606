# Beyond the paper: symmetric LC-loss. Besides target(I_c) -> online(I_sc), also target(I_sc) -> online(I_c)
# through the inverse correspondence (every I_sc point lies inside I_c); the two directions are averaged.
_base_ = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'

model = dict(symmetric=True)

# Beyond the paper: symmetric LC-loss. Besides target(I_c) -> online(I_sc), also target(I_sc) -> online(I_c)
# through the inverse correspondence (every I_sc point lies inside I_c); the two directions are averaged.
_base_ = 'byol_lc_r50_16xb256-400e.py'

model = dict(symmetric=True)

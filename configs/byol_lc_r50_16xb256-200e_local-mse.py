# Table 6 ablation "BYOL + Local MSE loss" (200 epochs): the local term is BYOL's normalised MSE between
# each target cell of I_c and the online I_sc features read bilinearly at its corresponding point,
# instead of LC-loss. Compare with byol_lc_r50_16xb256-200e.py.
_base_ = 'byol_lc_r50_16xb256-200e.py'

model = dict(local_head=dict(loss_type='mse'))

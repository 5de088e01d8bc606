# Table 6 ablation "BYOL + Local MSE loss" (200 epochs): the local term is BYOL's normalised MSE between
# each target cell of I_c and the online I_sc features read bilinearly at its corresponding point,
# instead of LC-loss. Compare with byol-lc_resnet50_16xb256-coslr-200e_in1k.py.
_base_ = 'byol-lc_resnet50_16xb256-coslr-200e_in1k.py'

model = dict(local_head=dict(loss_type='mse'))

# Loss-weight ablation (§4.5, Fig. 3b: 200 epochs at 160 px): alpha = 0.3 in
# (1 - alpha) * L_global + alpha * L_local. The alpha = 0.1 point is byol-lc_resnet50_16xb256-coslr-200e_in1k-160px.py.
_base_ = 'byol-lc_resnet50_16xb256-coslr-200e_in1k-160px.py'

model = dict(alpha=0.3)

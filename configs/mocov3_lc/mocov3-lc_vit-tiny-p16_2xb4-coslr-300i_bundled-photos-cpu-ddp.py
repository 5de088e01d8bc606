# The MoCo v3 + LC CPU demo as a 2-process data-parallel run on CPU (gloo), 2 x 4 images per step:
#   bash tools/dist_train.sh configs/mocov3_lc/mocov3-lc_vit-tiny-p16_2xb4-coslr-300i_bundled-photos-cpu-ddp.py 2
# The demo has no SyncBN (BN1d in the projector and predictor, BN in the local projection); DeviceAgnosticDDP drops
# the CUDA-only device_ids. MoCo v3's negatives are the keys of both processes (MoCoV3Head all-gathers them).
_base_ = 'mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'

# find_unused_parameters as mmpretrain's MoCo v3 ViT recipes set it (their top-level `find_unused_parameters = True`
# is read only when no model_wrapper_cfg is given): the Runner wraps the model before init_weights, where MoCoV3ViT
# fixes its sin-cos position embedding (requires_grad=False), so DDP waits for a gradient of backbone.pos_embed that
# never comes ("Parameter indices which did not receive grad: 1" without it).
train_dataloader = dict(batch_size=4, num_workers=1)
model_wrapper_cfg = dict(type='DeviceAgnosticDDP', broadcast_buffers=False, find_unused_parameters=True)

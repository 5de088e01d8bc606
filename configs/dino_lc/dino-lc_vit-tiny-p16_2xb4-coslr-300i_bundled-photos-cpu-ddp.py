# The DINO + LC CPU demo as a 2-process data-parallel run on CPU (gloo), 2 x 4 images per step:
#   bash tools/dist_train.sh configs/dino_lc/dino-lc_vit-tiny-p16_2xb4-coslr-300i_bundled-photos-cpu-ddp.py 2
# The demo has no SyncBN (its local projection uses BN); DeviceAgnosticDDP drops the CUDA-only device_ids. DINO's
# centre is averaged over both processes (DINOHead all-reduces the teacher outputs).
_base_ = 'dino-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'

train_dataloader = dict(batch_size=4, num_workers=1)
model_wrapper_cfg = dict(type='DeviceAgnosticDDP', broadcast_buffers=False, find_unused_parameters=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))

# The MMSelfSup demo as a 2-process data-parallel run on CPU (gloo):
#   bash tools/dist_train.sh configs/mmselfsup/byol-lc_resnet18_2xb4-coslr-300i_bundled-photos-cpu-ddp.py 2
# BN instead of SyncBN is already set by the demo; DeviceAgnosticDDP drops the CUDA-only device_ids.
_base_ = 'byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py'

train_dataloader = dict(batch_size=4, num_workers=1)
model_wrapper_cfg = dict(type='DeviceAgnosticDDP', broadcast_buffers=False, find_unused_parameters=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))

# Copyright (c) mmlc contributors. All rights reserved.
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also wraps a model living on the CPU (in mmengine's registry,
    where the Runner looks model wrappers up).

    mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which PyTorch rejects for CPU modules
    (``DistributedDataParallel device_ids and output_device arguments only work with single-device/
    multiple-device GPU modules``). This wrapper drops ``device_ids``/``output_device`` when the
    module's parameters are on the CPU and behaves exactly like its parent otherwise. Select it with
    ``model_wrapper_cfg = dict(type='DeviceAgnosticDDP')`` for gloo runs on CPU.
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        first_param = next(module.parameters(), None)
        if first_param is None or first_param.device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)

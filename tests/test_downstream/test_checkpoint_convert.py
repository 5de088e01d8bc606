# Copyright (c) mmlc contributors. All rights reserved.
"""Backbone export: selection, the weights_only round trip, torchvision equivalence, detectron2 names."""

import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from mmpretrain.models import ResNet

import mmlc  # noqa: F401
from mmlc.downstream import detectron2_key, extract_backbone, to_detectron2, to_torchvision
from .tiny_data import random_resnet50_checkpoint
from conftest import REPO_ROOT, load_script

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'extract_backbone.py')


@pytest.fixture(scope='module')
def runner_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth')
    return path, random_resnet50_checkpoint(path)


def _run_tool(*args):
    load_script('tools/model_converters/extract_backbone.py').main(list(map(str, args)))


def test_tool_command_line(runner_ckpt, tmp_path):
    path, backbone = runner_ckpt
    out = tmp_path / 'r50.pth'
    proc = subprocess.run([sys.executable, TOOL, path, str(out)],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env={
                              'PATH': '/usr/bin:/bin',
                              'OMP_NUM_THREADS': '1'
                          },
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'wrote {len(backbone)} online backbone tensors (mmpretrain layout)' in proc.stdout
    assert torch.load(out, weights_only=True).keys() == backbone.keys()


def test_extract_selects_one_backbone_and_prefix():
    sd = {
        'backbone.conv1.weight': torch.zeros(1),
        'target_net.module.0.conv1.weight': torch.ones(1),
        'target_net.module.1.mlp.0.weight': torch.full((1, ), 2.),
        'neck.mlp.0.weight': torch.full((1, ), 3.)
    }
    assert list(extract_backbone(sd)) == ['conv1.weight'] and extract_backbone(sd)['conv1.weight'].item() == 0
    assert extract_backbone(sd, 'target')['conv1.weight'].item() == 1
    assert list(extract_backbone(sd, 'target', keep_prefix=True)) == ['backbone.conv1.weight']
    with pytest.raises(ValueError):
        extract_backbone(sd, 'ema')
    with pytest.raises(KeyError):
        extract_backbone({'neck.w': torch.zeros(1)})


def test_detectron2_key_by_hand():
    # Worked out from detectron2's ResNet module names (stem / res2..res5 / convN.norm / shortcut).
    cases = {
        'conv1.weight': 'stem.conv1.weight',
        'bn1.running_var': 'stem.conv1.norm.running_var',
        'layer1.0.conv1.weight': 'res2.0.conv1.weight',
        'layer1.0.downsample.0.weight': 'res2.0.shortcut.weight',
        'layer1.0.downsample.1.running_mean': 'res2.0.shortcut.norm.running_mean',
        'layer3.5.bn2.bias': 'res4.5.conv2.norm.bias',
        'layer4.2.bn3.weight': 'res5.2.conv3.norm.weight',
    }
    for src, dst in cases.items():
        assert detectron2_key(src) == dst


def _detectron2_resnet50_names():
    """detectron2's R50 parameter/buffer names, enumerated independently of the converter."""
    bn = ('weight', 'bias', 'running_mean', 'running_var')
    names = {'stem.conv1.weight', *(f'stem.conv1.norm.{b}' for b in bn)}
    for stage, blocks in zip(range(2, 6), (3, 4, 6, 3)):
        for i in range(blocks):
            for c in (1, 2, 3):
                names |= {f'res{stage}.{i}.conv{c}.weight', *(f'res{stage}.{i}.conv{c}.norm.{b}' for b in bn)}
        names |= {f'res{stage}.0.shortcut.weight', *(f'res{stage}.0.shortcut.norm.{b}' for b in bn)}
    return names


def test_detectron2_layout_is_complete(runner_ckpt):
    _, backbone = runner_ckpt
    d2 = to_detectron2(backbone)
    assert d2['__author__'] == 'mmlc' and d2['matching_heuristics'] is True
    assert set(d2['model']) == _detectron2_resnet50_names()
    np.testing.assert_array_equal(d2['model']['res3.1.conv2.norm.running_var'],
                                  backbone['layer2.1.bn2.running_var'].numpy())


def test_torchvision_rejects_a_deep_stem():
    with pytest.raises(ValueError):
        to_torchvision({'stem.0.weight': torch.zeros(1)})
    with pytest.raises(ValueError):
        to_torchvision({'backbone.conv1.weight': torch.zeros(1)})


def test_torchvision_output_equals_mmpretrain_resnet(runner_ckpt):
    _, backbone = runner_ckpt
    tv = torchvision.models.resnet50()
    del tv.fc
    tv.load_state_dict(to_torchvision(backbone), strict=True)
    mm = ResNet(depth=50, out_indices=(3, ))
    mm.load_state_dict(backbone, strict=True)
    tv.eval(), mm.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = mm(x)[0]  # (2, 2048, 2, 2)
        t = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        out = tv.layer4(tv.layer3(tv.layer2(tv.layer1(t))))
    assert out.shape == ref.shape == (2, 2048, 2, 2)
    assert ref.abs().mean() > 0.05  # a non-degenerate output, so the comparison means something
    torch.testing.assert_close(out, ref)


def test_tool_round_trips_into_mmdet_and_mmseg_backbones(runner_ckpt, tmp_path):
    mmdet_models = pytest.importorskip('mmdet.models')
    mmseg_models = pytest.importorskip('mmseg.models')
    path, backbone = runner_ckpt
    plain, prefixed, target = tmp_path / 'plain.pth', tmp_path / 'prefixed.pth', tmp_path / 'target.pth'
    _run_tool(path, plain)
    _run_tool(path, prefixed, '--keep-prefix')
    _run_tool(path, target, '--source', 'target')
    sd = torch.load(plain, weights_only=True)  # plain tensors: no allow-list needed
    assert sd.keys() == backbone.keys()
    assert all(torch.equal(sd[k], backbone[k]) for k in sd)
    assert set(torch.load(prefixed, weights_only=True)) == {f'backbone.{k}' for k in backbone}
    torch.testing.assert_close(torch.load(target, weights_only=True)['conv1.weight'], backbone['conv1.weight'] + 1)

    for module in (mmdet_models.backbones.ResNet(depth=50),
                   mmseg_models.backbones.ResNet(
                       depth=50, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), contract_dilation=True)):
        result = module.load_state_dict(sd, strict=False)
        assert not result.missing_keys and not result.unexpected_keys


def test_tool_writes_torchvision_and_detectron2(runner_ckpt, tmp_path):
    path, backbone = runner_ckpt
    tv_path, d2_path = tmp_path / 'tv.pth', tmp_path / 'd2.pkl'
    _run_tool(path, tv_path, '--format', 'torchvision')
    _run_tool(path, d2_path, '--format', 'detectron2')
    tv = torchvision.models.resnet50()
    missing, unexpected = tv.load_state_dict(torch.load(tv_path, weights_only=True), strict=False)
    assert sorted(missing) == ['fc.bias', 'fc.weight'] and not unexpected

    class NumpyOnly(pickle.Unpickler):  # our own file, but read it as untrusted: numpy arrays only

        def find_class(self, module, name):
            if module.startswith('numpy') and name in ('_reconstruct', 'ndarray', 'dtype', 'scalar'):
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f'{module}.{name}')

    with open(d2_path, 'rb') as f:
        d2 = NumpyOnly(f).load()
    assert set(d2['model']) == _detectron2_resnet50_names()
    np.testing.assert_array_equal(d2['model']['res5.2.conv3.weight'], backbone['layer4.2.conv3.weight'].numpy())

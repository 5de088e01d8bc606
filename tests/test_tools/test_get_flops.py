# Copyright (c) mmlc contributors. All rights reserved.
"""tools/analysis/get_flops.py against figures derived by hand."""

import glob
import math
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import BYOL_LC_DIR, DEMO_CONFIG, load_script


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis/get_flops.py')


@pytest.fixture(scope='module')
def demo(tool):
    """The ResNet-18 demo model (BYOL + LC) and its counts at 224 px."""
    model = tool.build_model(DEMO_CONFIG)
    return model, tool.model_flops(model, 224)


def local_neck_by_hand(cfg: dict, side: int) -> int:
    """LocalProjectionNeck on a side x side map, counted as the counter does: a 1x1 conv is
    in x out multiply-adds per cell (bias not counted), an eval-mode BN with affine 2 per element, ReLU 0."""
    cells = side * side
    return cells * (
        cfg['in_channels'] * cfg['hid_channels'] + 2 * cfg['hid_channels'] + cfg['hid_channels'] * cfg['out_channels'])


def test_resnet18_and_its_local_neck(demo):
    model, result = demo
    parts = {name: (shape, flops, params) for name, shape, flops, params in result['parts']}
    # ResNet-18 at 224 px: 1.82 GFLOPs (multiply-adds; He et al. 2016, Table 1 gives 1.8e9).
    assert math.isclose(parts['backbone'][1], 1.82e9, rel_tol=0.02)
    # The local projector on the 7 x 7 last stage (224 / 32), exactly.
    neck = Config.fromfile(DEMO_CONFIG).model.local_neck
    assert parts['local_neck'][0] == (1, neck.in_channels, 7, 7)
    assert parts['local_neck'][1] == local_neck_by_hand(neck, 7)
    # Parameters: two 1x1 convs (the second with a bias) and the BN's weight and bias.
    assert parts['local_neck'][2] == (
        neck.in_channels * neck.hid_channels + 2 * neck.hid_channels + neck.hid_channels * neck.out_channels +
        neck.out_channels)


def test_step_estimate(tool, demo):
    model, result = demo
    f = {name: flops for name, _, flops, _ in result['parts']}
    # Two views; online backbone, neck, predictor and local neck forward + backward (3x forward), the EMA
    # target's backbone, neck and local neck forward once; the local branch sees one view per side.
    assert result['step_global'] == (2 * (3 + 1) * (f['backbone'] + f['neck (global projector)']) +
                                     2 * 3 * f['head.predictor'])
    assert result['step_local'] == (3 + 1) * f['local_neck']
    assert result['view'] == sum(f.values())
    model.local_branch.symmetric = True  # both directions: twice the local work
    try:
        assert tool.model_flops(model, 224)['step_local'] == 2 * result['step_local']
    finally:
        model.local_branch.symmetric = False


def test_command_line_on_another_size(tool, capsys):
    # BYOL (no local branch) at 160 px: a 5 x 5 last stage; the table is printed.
    config = sorted(glob.glob(osp.join(BYOL_LC_DIR, 'byol_resnet18_*.py')))[0]
    result = tool.main([config, '--size', '160'])
    out = capsys.readouterr().out
    assert [name for name, *_ in result['parts']] == ['backbone', 'neck (global projector)', 'head.predictor']
    assert result['parts'][1][1][2:] == (5, 5) and result['step_local'] == 0
    # Convolutions scale with the pixel count: (160 / 224)^2 of the 224-px figure, up to the stem's rounding.
    assert math.isclose(result['parts'][0][2], 1.82e9 * (160 / 224)**2, rel_tol=0.03)
    assert '| backbone ' in out and 'training step per image' in out

# Copyright (c) mmlc contributors. All rights reserved.
"""The MMSelfSup-based configs (configs/mmselfsup/): the same recipe as their mmpretrain-hosted twins, value for
value; only the host's terms (EMA momentum convention, packer, default scope) differ."""

import copy
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmlc  # noqa: F401
from conftest import BYOL_LC_DIR, CONFIG_DIR, DEMO_CONFIG

mmselfsup_registry = pytest.importorskip('mmselfsup.registry')

SS_DIR = osp.join(CONFIG_DIR, 'mmselfsup')
PAPER = 'byol-lc_resnet50_16xb256-coslr-400e_in1k.py'
DEMO = osp.basename(DEMO_CONFIG)
DDP = 'byol-lc_resnet18_2xb4-coslr-300i_bundled-photos-cpu-ddp.py'
PACK = dict(type='PackSelfSupInputs', meta_keys=['img_path', 'sc_box', 'sc_flip', 'src_shape'])


def plain(node):
    """A config node as plain data, without the ``_scope_`` tags that ``pkg::`` inheritance adds."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    return node


def pair(name):
    return plain(Config.fromfile(osp.join(SS_DIR, name)).to_dict()), plain(
        Config.fromfile(osp.join(BYOL_LC_DIR, name)).to_dict())


def test_the_folder_holds_the_paper_recipe_the_demo_and_the_ddp_variant():
    assert {PAPER, DEMO, DDP} <= set(p for p in os.listdir(SS_DIR) if p.endswith('.py'))


@pytest.mark.parametrize('name', [PAPER, DEMO, DDP])
def test_builds_mmselfsups_model_in_its_scope(name):
    cfg = Config.fromfile(osp.join(SS_DIR, name))
    assert cfg.default_scope == 'mmselfsup' and 'mmlc.mmselfsup' in cfg.custom_imports.imports
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        model = mmselfsup_registry.MODELS.build(copy.deepcopy(cfg.model))
    import mmlc.mmselfsup
    assert type(model) is mmlc.mmselfsup.BYOLLocalContrast
    assert type(model.target_net).__module__.startswith('mmselfsup')  # MMSelfSup's EMA for the global target
    # The local target follows the global target's schedule in mmpretrain's convention.
    assert model.target_local_neck.momentum == pytest.approx(1 - cfg.model.base_momentum)
    assert cfg.train_dataloader.dataset.pipeline[-1] == PACK
    assert cfg.train_cfg.type in ('EpochBasedTrainLoop', 'IterBasedTrainLoop')  # a typed loop: issue #745's case


def test_paper_models_have_the_same_parameters_in_both_hosts():
    """The ResNet-50 recipe built by each host: same parameter names and shapes, so checkpoints move as they are."""
    ss_cfg = Config.fromfile(osp.join(SS_DIR, PAPER))
    pt_cfg = Config.fromfile(osp.join(BYOL_LC_DIR, PAPER))
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        ss = mmselfsup_registry.MODELS.build(copy.deepcopy(ss_cfg.model)).state_dict()
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pt = MODELS.build(copy.deepcopy(pt_cfg.model)).state_dict()
    assert list(ss) == list(pt)
    assert all(ss[k].shape == pt[k].shape for k in ss)


def test_paper_recipe_in_mmselfsups_terms():
    cfg = Config.fromfile(osp.join(SS_DIR, PAPER))
    assert cfg.model.alpha == 0.1 and cfg.model.base_momentum == 0.996  # MMSelfSup: weight of the old parameters
    assert cfg.model.local_head == dict(type='LCLossHead', tau=0.2)
    assert cfg.model.local_neck == dict(
        type='LocalProjectionNeck', in_channels=2048, hid_channels=2048, out_channels=256, with_relu=False)
    assert cfg.model.backbone.depth == 50
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper' and opt.optimizer.type == 'LARS' and opt.optimizer.lr == 4.8
    assert cfg.train_dataloader.batch_size == 256 and cfg.train_cfg.max_epochs == 400


@pytest.mark.parametrize('name', [PAPER, DEMO, DDP])
def test_same_recipe_as_the_mmpretrain_hosted_twin(name):
    ss, pt = pair(name)
    # The EMA schedule, in each host's convention.
    assert ss['model']['base_momentum'] == pytest.approx(1 - pt['model']['base_momentum'])
    for key in ('alpha', 'local_neck', 'local_head', 'neck', 'head'):
        assert ss['model'][key] == pt['model'][key], key
    for key in ('type', 'depth', 'norm_cfg'):
        assert ss['model']['backbone'][key] == pt['model']['backbone'][key], key
    # The last stage only: MMSelfSup's ResNet counts the stem as index 0, mmpretrain's does not.
    assert ss['model']['backbone']['out_indices'] == [4] and pt['model']['backbone'].get('out_indices', (3, )) == (3, )
    ss_pipe, pt_pipe = ss['train_dataloader']['dataset']['pipeline'], pt['train_dataloader']['dataset']['pipeline']
    assert ss_pipe[:-1] == pt_pipe[:-1]  # loading and the paired transform
    for key in ('batch_size', 'sampler', 'collate_fn', 'num_workers'):
        assert ss['train_dataloader'].get(key) == pt['train_dataloader'].get(key), key
    assert ss['train_dataloader']['dataset']['type'] == pt['train_dataloader']['dataset']['type'] or name == PAPER
    assert ss['optim_wrapper'] == pt['optim_wrapper']
    assert ss['param_scheduler'] == pt['param_scheduler']
    assert ss['train_cfg'] == pt['train_cfg'] or name == PAPER
    assert ss['train_cfg'].get('max_epochs') == pt['train_cfg'].get('max_epochs')
    assert ss['train_cfg'].get('max_iters') == pt['train_cfg'].get('max_iters')
    for key in ('custom_hooks', 'model_wrapper_cfg'):
        assert ss.get(key) == pt.get(key), key
    assert ss.get('randomness', {}).get('seed') == pt.get('randomness', {}).get('seed')
    if name != PAPER:  # the full recipes keep each host's checkpoint interval (MMSelfSup 10 epochs, mmpretrain 1)
        assert ss['default_hooks']['checkpoint'] == pt['default_hooks']['checkpoint']
    assert ss['default_hooks']['logger']['interval'] == pt['default_hooks']['logger']['interval']
    assert ss['visualizer']['vis_backends'] == pt['visualizer']['vis_backends']

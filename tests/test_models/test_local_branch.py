# Copyright (c) mmlc contributors. All rights reserved.
"""LocalBranch on its own: hand-made dense maps and crop records, no BYOL."""

import copy
import math

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA
from mmpretrain.structures import DataSample

from mmlc.models import LocalBranch, local_contrastive_loss
from mmlc.models.utils import correspondence_grid, effective_rank, embedding_std, inverse_correspondence_grid

# Source images are 200 wide and 100 high; I_sc of image 0 is its left half, of image 1 the top-right quarter, flipped.
SRC = (100, 200)
BOXES = [[0., 0., 100., 100.], [100., 0., 200., 50.]]
FLIPS = [False, True]


def samples(boxes=BOXES, flips=FLIPS, src=SRC):
    out = []
    for box, flip in zip(boxes, flips):
        s = DataSample()
        s.set_field(torch.tensor(box), 'sc_box')
        s.set_field(flip, 'sc_flip')
        s.set_field(src, 'src_shape')
        out.append(s)
    return out


def records(boxes=BOXES, flips=FLIPS, src=SRC):
    """The same records as ``samples``, stacked by hand."""
    return torch.tensor(boxes), torch.tensor(flips), torch.tensor([src] * len(boxes))


def neck_cfg(in_channels=8, in_index=-1):
    return dict(
        type='LocalProjectionNeck',
        in_channels=in_channels,
        hid_channels=12,
        out_channels=6,
        in_index=in_index,
        norm_cfg=dict(type='BN'))


def make_branch(**kwargs):
    owner = nn.Module()
    kwargs.setdefault('local_neck', neck_cfg())
    kwargs.setdefault('local_head', dict(type='LCLossHead'))
    return owner, LocalBranch(owner, **kwargs)


def diverge(branch):
    """Move the online neck(s) away from their EMA twin, so that swapping the two would change the loss."""
    with torch.no_grad():
        for p in branch.local_neck.parameters():
            p.add_(0.3 * torch.randn_like(p))


def maps(channels=8, size=(4, 4), b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, channels, *size, generator=g), torch.randn(b, channels, *size, generator=g)


def test_modules_live_on_the_owner_under_the_checkpoint_names():
    owner, branch = make_branch()
    assert {k.split('.')[0] for k in owner.state_dict()} == {'local_neck', 'target_local_neck'}
    assert 'local_neck.conv1.weight' in owner.state_dict()
    assert 'target_local_neck.module.conv1.weight' in owner.state_dict()
    assert branch.local_neck is owner.local_neck and branch.local_head is owner.local_head
    assert isinstance(owner.target_local_neck, CosineEMA)
    assert owner.target_local_neck.module is not owner.local_neck
    # Several levels: local_neck.<level>.*
    owner2, branch2 = make_branch(local_neck=[neck_cfg(), neck_cfg()])
    assert {k.split('.')[1] for k in owner2.state_dict() if k.startswith('local_neck.')} == {'0', '1'}
    assert branch2.local_weights == [0.5, 0.5]
    # A deep copy of an algorithm carries a branch that reads the copy's modules.
    algo = TinyTwoView()
    clone = copy.deepcopy(algo)
    assert clone.local_branch.local_neck is clone.local_neck and clone.local_neck is not algo.local_neck


@pytest.mark.parametrize('head', [dict(), dict(tau=0.5), dict(impl='lean', chunk_size=3), dict(impl='naive')])
def test_loss_equals_the_lc_loss_of_the_necks_on_the_hand_grid(head):
    _, branch = make_branch(local_head=dict(type='LCLossHead', **head))
    diverge(branch)
    online_sc, target_c = maps()
    loss, logs = branch.loss(online_sc, target_c, samples())
    with torch.no_grad():
        target = branch.target_local_neck.module((target_c, ))[0]  # (B, 6, 4, 4)
    online = branch.local_neck((online_sc, ))[0]
    grid = correspondence_grid(*records(), (4, 4))
    want = local_contrastive_loss(target, online, grid, tau=head.get('tau', 0.2))
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-6)
    # A backbone's output tuple: the neck reads its in_index (-1), the first entry is ignored.
    loss_tuple, _ = branch.loss((torch.randn(2, 3, 8, 8), online_sc), (torch.randn(2, 3, 8, 8), target_c), samples())
    torch.testing.assert_close(loss_tuple, want, rtol=1e-5, atol=1e-6)
    # By hand: the 4x4 map's centres in the 200 x 100 source are x = 25, 75, 125, 175 and y = 12.5, 37.5, 62.5,
    # 87.5. Image 0's box [0, 100) x [0, 100) holds 2 x 4 of them, image 1's [100, 200) x [0, 50) 2 x 2: 12 of 32.
    assert logs['lc_valid_ratio'].item() == 12 / 32
    cells = online.detach().permute(0, 2, 3, 1).reshape(-1, 6)  # (B*4*4, 6)
    torch.testing.assert_close(logs['local_std'], embedding_std(cells))
    torch.testing.assert_close(logs['local_erank'], effective_rank(cells))
    assert all(not v.requires_grad and 'loss' not in k for k, v in logs.items())


def test_correspondence_by_hand():
    _, branch = make_branch()
    # Identity crop: the grid is the 2x2 cell centres, at -0.5 and 0.5; a flip mirrors x.
    ident = samples(boxes=[[0., 0., 200., 100.]] * 2, flips=[False, True])
    grid = branch.correspondence(ident, torch.Size([2, 2]), torch.device('cpu'))
    centres = torch.tensor([[[-0.5, -0.5], [0.5, -0.5]], [[-0.5, 0.5], [0.5, 0.5]]])  # (2, 2, 2): (x, y)
    torch.testing.assert_close(grid[0], centres)
    torch.testing.assert_close(grid[1], centres * torch.tensor([-1., 1.]))
    # Image 0 (left half): the centre (50, 25) of I_c's cell (0, 0) is at x = 50 / 100 * 2 - 1 = 0,
    # y = 25 / 100 * 2 - 1 = -0.5 of I_sc; the centre (150, 25) of cell (0, 1) at x = 2, outside.
    grid = branch.correspondence(samples(), (2, 2), torch.device('cpu'))
    torch.testing.assert_close(grid[0, 0], torch.tensor([[0., -0.5], [2., -0.5]]))
    # Inverse: I_sc's cell centres (25, 25) and (75, 75) of the left half are x = 25 / 200 * 2 - 1 = -0.75,
    # y = -0.5 and x = -0.25, y = 0.5 of I_c.
    inverse = branch.correspondence(samples(), (2, 2), torch.device('cpu'), inverse=True)
    torch.testing.assert_close(inverse[0, 0, 0], torch.tensor([-0.75, -0.5]))
    torch.testing.assert_close(inverse[0, 1, 1], torch.tensor([-0.25, 0.5]))


def test_target_twin_follows_the_cosine_ema_by_hand():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    _, branch = make_branch(momentum=0.1, end_momentum=0.5)
    online, ema = branch.local_neck, branch.target_local_neck.module
    with torch.no_grad():
        online.conv1.weight.fill_(1.)
    branch.update_target()  # step 0 copies the online neck
    assert torch.equal(ema.conv1.weight, torch.ones_like(ema.conv1.weight))
    with torch.no_grad():
        online.conv1.weight.fill_(3.)
    branch.update_target()  # step 1 of 10: m = 0.5 - (0.5 - 0.1) * (cos(pi / 10) + 1) / 2 = 0.1097887
    m = 0.5 - 0.4 * (math.cos(math.pi / 10) + 1) / 2
    assert m == pytest.approx(0.1097887, abs=1e-7)
    torch.testing.assert_close(ema.conv1.weight, torch.full_like(ema.conv1.weight, (1 - m) * 1. + m * 3.))
    assert torch.equal(online.conv1.weight, torch.full_like(online.conv1.weight, 3.))


def test_multilevel_and_symmetric_weighting_equal_the_hand_combination():
    # Level 0 reads a 4x4 map of 8 channels, level 1 a 2x2 map of 16 channels.
    _, branch = make_branch(
        local_neck=[neck_cfg(8, in_index=0), neck_cfg(16, in_index=1)], local_weights=[0.25, 0.75], symmetric=True)
    diverge(branch)
    (c4, sc4), (c2, sc2) = maps(8, (4, 4), seed=1), maps(16, (2, 2), seed=2)
    online_c, online_sc = (c4, c2), (sc4, sc2)
    target_c, target_sc = (c4 + 0.1, c2 - 0.1), (sc4 * 0.9, sc2 * 1.1)
    loss, logs = branch.loss(online_sc, target_c, samples(), online_c=online_c, target_sc=target_sc)
    want = 0.
    for level, weight in enumerate((0.25, 0.75)):
        online_neck, target_neck = branch.local_neck[level], branch.target_local_neck.module[level]
        with torch.no_grad():
            t_c, t_sc = target_neck(target_c)[0], target_neck(target_sc)[0]
        o_c, o_sc = online_neck(online_c)[0], online_neck(online_sc)[0]
        size = t_c.shape[-2:]
        forward = local_contrastive_loss(t_c, o_sc, correspondence_grid(*records(), size))
        reverse = local_contrastive_loss(t_sc, o_c, inverse_correspondence_grid(*records(), size))
        torch.testing.assert_close(logs[f'lc_level{level}'], 0.5 * (forward + reverse), rtol=1e-5, atol=1e-6)
        want = want + weight * 0.5 * (forward + reverse)
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-6)
    # By hand on the 2x2 map (centres x = 50, 150, y = 25, 75): image 0 holds 2 cells, image 1 one.
    assert logs['lc_valid_ratio_level1'].item() == 3 / 8
    per_level = {f'{k}_level{i}' for k in ('lc_valid_ratio', 'local_std', 'local_erank') for i in (0, 1)}
    assert set(logs) == per_level | {'lc_level0', 'lc_level1'}


def test_gradients_reach_the_online_side_only():
    _, branch = make_branch(symmetric=True)
    online_sc, target_c = (m.requires_grad_() for m in maps())
    online_c, target_sc = (m.requires_grad_() for m in maps(seed=1))
    loss, _ = branch.loss(online_sc, target_c, samples(), online_c=online_c, target_sc=target_sc)
    loss.backward()
    assert branch.local_neck.conv1.weight.grad.abs().sum() > 0
    assert online_sc.grad.abs().sum() > 0 and online_c.grad.abs().sum() > 0
    assert target_c.grad is None and target_sc.grad is None
    assert all(p.grad is None and not p.requires_grad for p in branch.target_local_neck.parameters())


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match='local_weights'):
        make_branch(local_neck=[neck_cfg(), neck_cfg()], local_weights=[1.])
    with pytest.raises(ValueError, match='local_weights'):
        make_branch(local_weights=[-1.])
    with pytest.raises(ValueError, match='local_neck'):
        make_branch(local_neck=[])
    with pytest.raises(ValueError, match='momentum'):
        make_branch(momentum=1.5)
    owner, _ = make_branch()
    with pytest.raises(ValueError, match='already has'):
        LocalBranch(owner, neck_cfg(), dict(type='LCLossHead'))
    with pytest.raises(TypeError, match='nn.Module'):
        LocalBranch(object(), neck_cfg(), dict(type='LCLossHead'))
    _, sym = make_branch(symmetric=True)
    with pytest.raises(ValueError, match='online_c and target_sc'):
        sym.loss(*maps(), samples())
    bare = [DataSample() for _ in range(2)]
    with pytest.raises(KeyError, match='sc_box'):
        make_branch()[1].loss(*maps(), bare)


class TinyTwoView(nn.Module):
    """A two-view algorithm in a few lines: a conv 'backbone', its EMA target, and the local branch."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, kernel_size=4, stride=4)  # 16 px -> a 4x4 map
        self.target_backbone = CosineEMA(self.backbone, momentum=0.004)
        self.local_branch = LocalBranch(self, neck_cfg(), dict(type='LCLossHead'), momentum=0.004)

    def loss(self, inputs, data_samples):
        img_c, img_sc = inputs
        online_sc = self.backbone(img_sc)  # (B, 8, 4, 4)
        with torch.no_grad():
            self.target_backbone.update_parameters(self.backbone)
            self.local_branch.update_target()
            target_c = self.target_backbone(img_c)  # (B, 8, 4, 4)
        loss, logs = self.local_branch.loss(online_sc, target_c, data_samples)
        return dict(loss_local=loss, **logs)


def test_a_tiny_two_view_algorithm_composes_the_branch_and_trains():
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model = TinyTwoView()
    assert {k.split('.')[0]
            for k in model.state_dict()} == {'backbone', 'target_backbone', 'local_neck', 'target_local_neck'}
    inputs = [torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)]
    optim = torch.optim.SGD(model.parameters(), lr=0.05)
    first = model.loss(inputs, samples())['loss_local']
    before = model.local_neck.conv1.weight.detach().clone(), model.backbone.weight.detach().clone()
    first.backward()
    optim.step()
    assert not torch.equal(model.local_neck.conv1.weight, before[0])
    assert not torch.equal(model.backbone.weight, before[1])
    # The next step's EMA update moves the target twin by m = 0.004 * (cos(pi / 100) + 1) / 2 of the way.
    old_target = model.target_local_neck.module.conv1.weight.clone()
    losses = []
    for _ in range(15):
        optim.zero_grad()
        out = model.loss(inputs, samples())
        if not losses:
            m = 0.004 * (math.cos(math.pi / 100) + 1) / 2
            torch.testing.assert_close(model.target_local_neck.module.conv1.weight,
                                       (1 - m) * old_target + m * model.local_neck.conv1.weight)
        losses.append(out['loss_local'].item())
        out['loss_local'].backward()
        optim.step()
    assert losses[-1] < first.item()

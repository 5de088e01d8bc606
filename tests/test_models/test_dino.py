# Copyright (c) mmlc contributors. All rights reserved.
"""DINO against the paper's equations (Caron et al., 2021, §3.1, Algorithm 1): loss, centring, temperatures,
multi-crop pairs, weight-normalised prototypes, EMA teacher, last-layer freeze, per-tensor clipping, recipes."""

import copy
import math
import os.path as osp
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import DATASETS, MODELS, PARAM_SCHEDULERS

import mmlc  # noqa: F401
from mmlc.engine.hooks import (DINOFreezeLastLayerHook, DINOGradClipHook, DINOTeacherTempHook, clip_grad_per_param_,
                               teacher_temp_schedule)
from mmlc.models.losses import dino_center_update, dino_cross_entropy, dino_teacher_probs
from conftest import CONFIG_DIR

DINO_DIR = osp.join(CONFIG_DIR, 'dino')
VIT_S = osp.join(DINO_DIR, 'dino_vit-small-p16_8xb64-amp-coslr-100e_in1k.py')
VIT_S_BOOST = osp.join(DINO_DIR, 'dino_vit-small-p16_16xb64-amp-coslr-300e_in1k.py')
RN50 = osp.join(DINO_DIR, 'dino_resnet50_8xb64-amp-coslr-100e_in1k.py')
CPU = osp.join(DINO_DIR, 'dino_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py')

K = 32  # prototypes in the tiny models


def tiny_cfg(drop_path_rate=0., norm_last_layer=True, **head):
    return dict(
        type='DINO',
        base_momentum=0.004,
        backbone=dict(
            type='VisionTransformer',
            arch=dict(embed_dims=48, num_layers=2, num_heads=3, feedforward_channels=96),
            img_size=64,
            patch_size=16,
            drop_path_rate=drop_path_rate,
            out_type='cls_token'),
        neck=dict(
            type='DINONeck',
            in_channels=48,
            hid_channels=64,
            bottleneck_channels=16,
            out_channels=K,
            norm_last_layer=norm_last_layer),
        head=dict(type='DINOHead', out_channels=K, **head),
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))


def views(b=3, num_local=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(b, 3, 64, 64, generator=g)
             for _ in range(2)] + [torch.randn(b, 3, 32, 32, generator=g) for _ in range(num_local)])


@pytest.fixture(autouse=True)
def _max_iters():
    MessageHub.get_current_instance().update_info('max_iters', 10)  # CosineEMA reads it


# ----------------------------------------------------------------------------------------------------------------
# Naive references written from the paper's equations, in float64 with Python loops.


def ref_softmax(logits, temp):
    """Softmax(x / temp) of one vector (a list of floats)."""
    top = max(x / temp for x in logits)
    exps = [math.exp(x / temp - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


def ref_dino_loss(student, teacher, center, student_temp, teacher_temp):
    """Equation 3 with Algorithm 1's centring: mean over pairs (teacher global view i, student view j != i) of the
    batch mean of H(P_t, P_s) = -sum_k P_t[k] log P_s[k]. ``student`` (V, B, K), ``teacher`` (G, B, K), ``center``
    (K,) as nested lists."""
    terms = []
    for i in range(len(teacher)):
        for j in range(len(student)):
            if i == j:
                continue
            per_image = []
            for b in range(len(student[j])):
                p_t = ref_softmax([t - c for t, c in zip(teacher[i][b], center)], teacher_temp)
                p_s = ref_softmax(student[j][b], student_temp)
                per_image.append(-sum(pt * math.log(ps) for pt, ps in zip(p_t, p_s)))
            terms.append(sum(per_image) / len(per_image))
    return sum(terms) / len(terms)


def ref_center(center, teacher, momentum):
    """Equation 4: c <- m c + (1 - m) (1 / N) sum over the batch (both teacher views) of g_t(x)."""
    rows = [row for view in teacher for row in view]
    mean = [sum(col) / len(rows) for col in zip(*rows)]
    return [momentum * c + (1 - momentum) * x for c, x in zip(center, mean)]


def _lists(t):
    return t.double().tolist()


# ----------------------------------------------------------------------------------------------------------------
# Loss, centring and temperatures.


@pytest.mark.parametrize('num_views, student_temp, teacher_temp', [(2, 0.1, 0.04), (5, 0.1, 0.07), (4, 0.2, 0.5)])
def test_loss_matches_the_loop_reference(num_views, student_temp, teacher_temp):
    g = torch.Generator().manual_seed(num_views)
    student = torch.randn(num_views, 3, 7, generator=g)
    teacher = torch.randn(2, 3, 7, generator=g)
    center = torch.randn(1, 7, generator=g) * 0.3
    got = dino_cross_entropy(student, dino_teacher_probs(teacher, center, teacher_temp), student_temp)
    want = ref_dino_loss(_lists(student), _lists(teacher), _lists(center[0]), student_temp, teacher_temp)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_loss_hand_cases():
    # Uniform student over K = 2 prototypes: every term is -log(1/2), whatever the teacher.
    teacher = torch.tensor([[[5., -1.]], [[0., 3.]]])  # (2, 1, 2)
    probs = dino_teacher_probs(teacher, torch.zeros(1, 2), 0.04)
    assert dino_cross_entropy(torch.zeros(3, 1, 2), probs, 0.1).item() == pytest.approx(math.log(2), rel=1e-6)
    # A one-hot teacher picks the student's log-probability of its prototype: view 0 says prototype 0, view 1 says
    # prototype 1; the student's views put logits (1, 0), (0, 1), (0, 0) -> pairs (0,1), (0,2), (1,0), (1,2).
    one_hot = torch.tensor([[[1., 0.]], [[0., 1.]]])
    student = torch.tensor([[[1., 0.]], [[0., 1.]], [[0., 0.]]])
    log_lo = math.log(1 / (1 + math.e))  # log softmax of the smaller of (1, 0) at temperature 1
    want = (-log_lo + math.log(2) - log_lo + math.log(2)) / 4
    assert dino_cross_entropy(student, one_hot, 1.).item() == pytest.approx(want, rel=1e-6)


def test_teacher_probs_are_centred_and_sharpened():
    teacher = torch.tensor([[1., 2., 3.]])
    center = torch.tensor([[0., 1., 3.]])
    # (1, 1, 0) / 0.5 = (2, 2, 0)
    want = torch.tensor([[math.e**2, math.e**2, 1.]]) / (2 * math.e**2 + 1)
    torch.testing.assert_close(dino_teacher_probs(teacher, center, 0.5), want)


def test_loss_has_no_gradient_into_the_teacher_and_skips_same_view_pairs():
    student = torch.randn(3, 2, 5, requires_grad=True)
    teacher = torch.randn(2, 2, 5, requires_grad=True)
    loss = dino_cross_entropy(student, dino_teacher_probs(teacher, torch.zeros(1, 5), 0.04), 0.1)
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    # Student view j only meets teacher views i != j: changing teacher view 0 cannot change student view 0's term.
    student2 = student.detach().clone().requires_grad_()
    t2 = teacher.detach().clone()
    t2[0] += torch.randn(2, 5)
    probs = dino_teacher_probs(t2, torch.zeros(1, 5), 0.04)
    dino_cross_entropy(student2, probs, 0.1).backward()
    torch.testing.assert_close(student2.grad[0], student.grad[0])  # view 0 sees only teacher view 1
    assert not torch.allclose(student2.grad[1], student.grad[1])  # view 1 sees teacher view 0


def test_bad_view_counts_are_refused():
    with pytest.raises(ValueError, match='V >= 2'):
        dino_cross_entropy(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), 0.1)
    with pytest.raises(ValueError, match='G <= V'):
        dino_cross_entropy(torch.zeros(2, 2, 3), torch.zeros(3, 2, 3), 0.1)


def test_center_update_hand_case():
    new = dino_center_update(torch.tensor([[1., 2.]]), torch.tensor([[3., 4.]]), 0.9)
    torch.testing.assert_close(new, torch.tensor([[1.2, 2.2]]))


def test_head_uses_the_old_centre_then_updates_it():
    head = MODELS.build(dict(type='DINOHead', out_channels=6, student_temp=0.1, teacher_temp=0.05, center_momentum=0.8))
    g = torch.Generator().manual_seed(1)
    center = [0.] * 6
    for step in range(3):  # three steps: the centre accumulates
        student, teacher = torch.randn(4, 3, 6, generator=g), torch.randn(2, 3, 6, generator=g)
        loss = head.loss(student, teacher)
        assert loss.item() == pytest.approx(
            ref_dino_loss(_lists(student), _lists(teacher), center, 0.1, 0.05), rel=1e-5)
        center = ref_center(center, _lists(teacher), 0.8)
        torch.testing.assert_close(
            head.center[0].double(), torch.tensor(center, dtype=torch.float64), rtol=1e-6, atol=1e-7)
    assert 'center' in head.state_dict()


def _centre_worker(rank, world_size, port, logits, results):
    torch.distributed.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    try:
        head = MODELS.build(dict(type='DINOHead', out_channels=logits.shape[-1], center_momentum=0.9))
        head.update_center(logits[rank])
        results.put((rank, head.center[0].tolist()))
    finally:
        torch.distributed.destroy_process_group()


def test_centre_is_the_mean_over_all_processes():
    # Two gloo processes, each with its own batch (2 teacher views x 3 images), end with the same centre:
    # 0.1 x the mean over both processes' teacher outputs.
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    logits = torch.randn(2, 2, 3, 5)  # (process, G, B, K)
    ctx = torch.multiprocessing.get_context('fork')
    results = ctx.Queue()
    procs = [ctx.Process(target=_centre_worker, args=(rank, 2, port, logits, results)) for rank in range(2)]
    for proc in procs:
        proc.start()
    got = dict(results.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    want = ref_center(
        [0.] * 5,
        [_lists(logits[0, 0]), _lists(logits[0, 1]),
         _lists(logits[1, 0]), _lists(logits[1, 1])], 0.9)
    for rank in range(2):
        assert got[rank] == pytest.approx(want, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize('bad', [
    dict(out_channels=0), dict(student_temp=0.),
    dict(teacher_temp=-1.),
    dict(center_momentum=1.)
])
def test_head_refuses_bad_values(bad):
    with pytest.raises(ValueError):
        MODELS.build(dict(dict(type='DINOHead', out_channels=4), **bad))


def test_teacher_temp_schedule_values():
    # The paper's warm-up 0.04 -> 0.07 over 30 epochs: numpy.linspace as the independent reference.
    ref = np.concatenate([np.linspace(0.04, 0.07, 30), np.full(70, 0.07)])
    for epoch in (0, 1, 15, 29, 30, 99):
        assert teacher_temp_schedule(epoch, 0.04, 0.07, 30) == pytest.approx(ref[epoch], abs=1e-12)
    assert teacher_temp_schedule(0, 0.04, 0.07, 30) == 0.04 and teacher_temp_schedule(29, 0.04, 0.07, 30) == 0.07
    assert teacher_temp_schedule(15, 0.04, 0.07, 30) == pytest.approx(0.04 + 0.03 * 15 / 29)
    assert teacher_temp_schedule(0, 0.04, 0.07, 0) == 0.07  # no warm-up
    assert [teacher_temp_schedule(e, 0.04, 0.07, 1) for e in (0, 1)] == [0.04, 0.07]
    with pytest.raises(ValueError):
        teacher_temp_schedule(-1, 0.04, 0.07, 3)


def test_teacher_temp_hook_sets_the_head_by_epoch_or_iteration():
    model = MODELS.build(tiny_cfg())
    runner = SimpleNamespace(model=model, epoch=15, iter=3)
    DINOTeacherTempHook(warmup_temp=0.04, temp=0.07, warmup=30).before_train_iter(runner, 0)
    assert model.head.teacher_temp == pytest.approx(0.04 + 0.03 * 15 / 29)
    DINOTeacherTempHook(warmup_temp=0.04, temp=0.07, warmup=4, by_epoch=False).before_train_iter(runner, 0)
    assert model.head.teacher_temp == pytest.approx(0.07)  # iteration 3 = the last warm-up step
    runner.iter = 1
    DINOTeacherTempHook(warmup_temp=0.04, temp=0.07, warmup=4, by_epoch=False).before_train_iter(runner, 0)
    assert model.head.teacher_temp == pytest.approx(0.05)
    with pytest.raises(ValueError):
        DINOTeacherTempHook(temp=0.)


# ----------------------------------------------------------------------------------------------------------------
# The projection head: MLP, bottleneck, weight-normalised prototypes.


def test_neck_matches_a_naive_reference_and_its_prototypes_have_unit_norm():
    neck = MODELS.build(dict(type='DINONeck', in_channels=10, hid_channels=12, bottleneck_channels=6, out_channels=9))
    neck.init_weights()
    layers = [m for m in neck.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(10, 12), (12, 12), (12, 6)]
    assert sum(isinstance(m, torch.nn.GELU) for m in neck.mlp) == 2
    x = torch.randn(5, 10)
    h = x
    for i, m in enumerate(layers):
        h = h @ m.weight.T + m.bias
        if i < 2:
            h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))  # exact GELU
    h = h / h.norm(dim=1, keepdim=True)
    v = neck.last_layer.parametrizations.weight.original1  # (K, bottleneck)
    want = h @ (v / v.norm(dim=1, keepdim=True)).T  # cosine of the bottleneck with each prototype
    torch.testing.assert_close(neck((x, ))[0], want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(neck.last_layer.weight.norm(dim=1), torch.ones(9))
    assert neck((x, ))[0].abs().max() <= 1 + 1e-6


def test_neck_avg_pool_and_shape_checks():
    neck = MODELS.build(
        dict(
            type='DINONeck',
            in_channels=4,
            hid_channels=8,
            bottleneck_channels=3,
            out_channels=5,
            with_avg_pool=True,
            norm_cfg=dict(type='BN1d')))
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in neck.mlp)
    neck.eval()
    fmap = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(
        neck((fmap, ))[0], neck.last_layer(torch.nn.functional.normalize(neck.mlp(fmap.mean(dim=(2, 3))), dim=-1)))
    with pytest.raises(ValueError, match='with_avg_pool'):
        neck((torch.randn(2, 4), ))
    plain = MODELS.build(dict(type='DINONeck', in_channels=4, hid_channels=8, bottleneck_channels=3, out_channels=5))
    with pytest.raises(ValueError, match='with_avg_pool'):
        plain((fmap, ))
    with pytest.raises(ValueError):
        MODELS.build(dict(type='DINONeck', in_channels=4, num_layers=0))


def test_weight_norm_deep_copies_through_cosine_ema_and_stays_normalised():
    model = MODELS.build(tiny_cfg())
    teacher_neck = model.teacher.module[1]  # made by CosineEMA's deepcopy
    assert teacher_neck.last_layer is not model.neck.last_layer
    student_v = model.neck.last_layer.parametrizations.weight.original1
    teacher_v = teacher_neck.last_layer.parametrizations.weight.original1
    assert student_v.data_ptr() != teacher_v.data_ptr()
    torch.testing.assert_close(teacher_v, student_v)
    copy.deepcopy(model.neck)  # and again
    # The gains are frozen at 1: after an optimiser step on v every prototype still has unit norm.
    gain = model.neck.last_layer.parametrizations.weight.original0
    assert not gain.requires_grad and torch.equal(gain, torch.ones(K, 1))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.)
    model.loss(views(), None)['loss'].backward()
    opt.step()
    assert not torch.equal(student_v, teacher_v)
    torch.testing.assert_close(model.neck.last_layer.weight.norm(dim=1), torch.ones(K))
    # norm_last_layer=False: the gains train.
    free = MODELS.build(tiny_cfg(norm_last_layer=False))
    free_gain = free.neck.last_layer.parametrizations.weight.original0
    assert free_gain.requires_grad
    free.loss(views(), None)['loss'].backward()
    assert free_gain.grad is not None and free_gain.grad.abs().sum() > 0


def test_the_old_weight_norm_is_the_trap():
    # Why the parametrisation API: the old hook-based weight_norm keeps `weight` as a non-leaf tensor attribute,
    # which copy.deepcopy (and so CosineEMA) refuses.
    with pytest.warns(FutureWarning):
        layer = torch.nn.utils.weight_norm(torch.nn.Linear(3, 4, bias=False))
    with pytest.raises(RuntimeError):
        copy.deepcopy(layer)


# ----------------------------------------------------------------------------------------------------------------
# The algorithm: teacher, multi-crop, loss.


def test_dino_loss_equals_the_reference_on_per_view_outputs():
    model = MODELS.build(tiny_cfg(student_temp=0.1, teacher_temp=0.04))
    model.init_weights()
    model.head.center.normal_(0, 0.1)
    center = _lists(model.head.center[0])
    inputs = views(b=3, num_local=3)
    out = model.loss(inputs, None)
    # At step 0 the EMA copies the student: the teacher's outputs are the student's on the global views.
    with torch.no_grad():
        student = torch.stack([model.neck(model.backbone(v))[0] for v in inputs])  # (5, 3, K), one view at a time
        teacher_backbone, teacher_neck = model.teacher.module
        teacher = torch.stack([teacher_neck(teacher_backbone(v))[0] for v in inputs[:2]])
    torch.testing.assert_close(teacher, student[:2], rtol=1e-5, atol=1e-6)
    want = ref_dino_loss(_lists(student), _lists(teacher), center, 0.1, 0.04)
    assert out['loss'].item() == pytest.approx(want, rel=1e-4)
    assert out['teacher_temp'].item() == pytest.approx(0.04) and not out['teacher_temp'].requires_grad
    torch.testing.assert_close(
        model.head.center[0].double(),
        torch.tensor(ref_center(center, _lists(teacher), 0.9), dtype=torch.float64),
        rtol=1e-5,
        atol=1e-6)


def test_views_of_one_size_share_a_batch():
    # A BatchNorm backbone shows the batching: the two global crops are normalised together, as DINO does.
    model = MODELS.build(
        dict(
            type='DINO',
            backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')),
            neck=dict(
                type='DINONeck',
                in_channels=512,
                hid_channels=16,
                bottleneck_channels=8,
                out_channels=K,
                with_avg_pool=True),
            head=dict(type='DINOHead', out_channels=K)))
    inputs = views(b=2, num_local=2)
    got = model.forward_views(model.backbone, model.neck, inputs)  # (4, 2, K)
    together = model.neck(model.backbone(torch.cat(inputs[:2])))[0]  # (4, K): both global crops in one batch
    torch.testing.assert_close(got[:2].flatten(0, 1), together)
    alone = model.neck(model.backbone(inputs[0]))[0]  # (2, K)
    assert not torch.allclose(got[0], alone, atol=1e-4)


def test_teacher_gets_no_gradient_and_follows_the_cosine_ema():
    model = MODELS.build(tiny_cfg())
    out = model.loss(views(), None)
    out['loss'].backward()
    assert all(not p.requires_grad and p.grad is None for p in model.teacher.parameters())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(not n.startswith('teacher.') for n in trainable)
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)
    # Move the student, then one more step: teacher <- (1 - m) teacher + m student with m the cosine momentum
    # at step 1 of 10 (CosineEMA: m = 0.004 (1 + cos(pi / 10)) / 2, the weight of the new parameters).
    before = {n: p.detach().clone() for n, p in model.teacher.module.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1)
    model.loss(views(seed=1), None)
    m = 0.004 * (1 + math.cos(math.pi / 10)) / 2
    student = dict(torch.nn.Sequential(model.backbone, model.neck).named_parameters())
    for name, value in model.teacher.module.named_parameters():
        torch.testing.assert_close(value, (1 - m) * before[name] + m * student[name], msg=name)


def test_teacher_runs_without_stochastic_depth():
    model = MODELS.build(tiny_cfg(drop_path_rate=0.5))
    model.train()
    x = views(b=2)[0]
    teacher_backbone = model.teacher.module[0]
    torch.testing.assert_close(teacher_backbone(x)[0], teacher_backbone(x)[0])
    assert not torch.allclose(model.backbone(x)[0], model.backbone(x)[0])  # the student drops paths


def test_bad_inputs_and_momentum_are_refused():
    model = MODELS.build(tiny_cfg())
    with pytest.raises(ValueError, match='at least 2 views'):
        model.loss(views()[:1], None)
    with pytest.raises(ValueError, match='base_momentum'):
        MODELS.build(dict(tiny_cfg(), base_momentum=0.))


# ----------------------------------------------------------------------------------------------------------------
# Optimiser-step hooks: last-layer freeze and per-tensor clipping.


def _step(model, optim_wrapper, seed):
    optim_wrapper.update_params(model.loss(views(seed=seed), None)['loss'])


def test_last_layer_is_frozen_during_the_first_epoch_only():
    model = MODELS.build(tiny_cfg(norm_last_layer=False))  # gains trainable too: both g and v must stay
    # AdamW with weight decay: zeroed gradients would still decay the weights; dropped ones do not.
    optim_wrapper = OptimWrapper(
        torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.5))
    runner = SimpleNamespace(model=model, optim_wrapper=optim_wrapper, epoch=0, iter=0)
    hook = DINOFreezeLastLayerHook(freeze=1)
    hook.before_train(runner)
    last = dict(model.neck.last_layer.named_parameters())
    assert len(last) == 2
    start = {n: p.detach().clone() for n, p in last.items()}
    mlp_start = model.neck.mlp[0].weight.detach().clone()
    for it in range(2):  # epoch 0, two iterations
        runner.iter = it
        hook.before_train_iter(runner, it)
        _step(model, optim_wrapper, seed=it)
        assert hook.frozen
        for name, p in last.items():
            assert torch.equal(p, start[name]), name
            assert p not in optim_wrapper.optimizer.state  # the optimiser never touched it
    assert not torch.equal(model.neck.mlp[0].weight, mlp_start)
    runner.epoch, runner.iter = 1, 2
    hook.before_train_iter(runner, 2)
    assert not hook.frozen
    _step(model, optim_wrapper, seed=2)
    for name, p in last.items():
        assert not torch.equal(p, start[name]), name
    hook.after_train(runner)
    assert not hook._handles


def test_freeze_by_iteration_and_bad_values():
    hook = DINOFreezeLastLayerHook(freeze=3, by_epoch=False)
    runner = SimpleNamespace(epoch=0, iter=2)
    hook.before_train_iter(runner, 0)
    assert hook.frozen
    runner.iter = 3
    hook.before_train_iter(runner, 0)
    assert not hook.frozen
    with pytest.raises(ValueError):
        DINOFreezeLastLayerHook(freeze=-1)


def test_per_tensor_clipping_hand_case():
    a, b, c = (torch.zeros(2, requires_grad=True) for _ in range(3))
    a.grad = torch.tensor([3., 4.])  # norm 5 -> scaled to norm 3
    b.grad = torch.tensor([0.6, 0.8])  # norm 1: untouched
    clip_grad_per_param_([a, b, c], max_norm=3.)  # c has no gradient
    torch.testing.assert_close(a.grad, torch.tensor([3., 4.]) * 3 / (5 + 1e-6))
    torch.testing.assert_close(b.grad, torch.tensor([0.6, 0.8]))
    assert c.grad is None


def test_grad_clip_hook_clips_each_tensor_before_the_step():
    w1, w2 = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([w1, w2], lr=1.)
    runner = SimpleNamespace(optim_wrapper=OptimWrapper(opt))
    hook = DINOGradClipHook(max_norm=1.)
    hook.before_train(runner)
    w1.grad, w2.grad = torch.tensor([30., 40.]), torch.tensor([0.1, 0.2, 0.2])
    opt.step()
    # SGD lr 1: the update is minus the clipped gradient; only the first tensor is over the limit.
    torch.testing.assert_close(w1.detach(), -torch.tensor([0.6, 0.8]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w2.detach(), -torch.tensor([0.1, 0.2, 0.2]))
    hook.after_train(runner)
    with pytest.raises(ValueError):
        DINOGradClipHook(max_norm=0.)


@pytest.mark.parametrize('max_norm, want', [(10., [-3., -4.]), (1., [-0.6, -0.8])])
def test_grad_clip_hook_sees_unscaled_gradients_under_a_grad_scaler(max_norm, want):
    # As under AmpOptimWrapper: the loss scaler unscales before it calls optimizer.step, so the pre-hook clips the
    # true gradient (3, 4), not the scaled one (3072, 4096).
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=1.)
    scaler = torch.amp.GradScaler('cpu', init_scale=1024.)
    hook = DINOGradClipHook(max_norm=max_norm)
    hook.before_train(SimpleNamespace(optim_wrapper=OptimWrapper(opt)))
    scaler.scale((w * torch.tensor([3., 4.])).sum()).backward()
    assert w.grad.tolist() == [3072., 4096.]
    scaler.step(opt)
    torch.testing.assert_close(w.detach(), torch.tensor(want), rtol=1e-5, atol=1e-6)
    hook.after_train(None)


def test_hooks_refuse_epoch_counts_in_iteration_runs_and_a_second_clip():
    model = MODELS.build(tiny_cfg())
    runner = SimpleNamespace(
        model=model,
        train_loop=object.__new__(IterBasedTrainLoop),
        optim_wrapper=OptimWrapper(torch.optim.SGD(model.neck.parameters(), lr=0.1)))
    for hook in (DINOTeacherTempHook(), DINOFreezeLastLayerHook()):
        with pytest.raises(ValueError, match='by_epoch=False'):
            hook.before_train(runner)
    DINOFreezeLastLayerHook(by_epoch=False).before_train(runner)
    runner.optim_wrapper = OptimWrapper(torch.optim.SGD(model.neck.parameters(), lr=0.1), clip_grad=dict(max_norm=3.))
    with pytest.raises(ValueError, match='clip_grad'):
        DINOGradClipHook().before_train(runner)


# ----------------------------------------------------------------------------------------------------------------
# Configs.


def _schedulers(cfg, optimizer, epoch_length):
    """Build the config's parameter schedulers as the Runner does for ``convert_to_iter_based`` ones."""
    schedulers = []
    for sched in copy.deepcopy(cfg.param_scheduler):
        cls = PARAM_SCHEDULERS.get(sched.pop('type'))
        if sched.pop('convert_to_iter_based', False):
            schedulers.append(cls.build_iter_from_epoch(optimizer, epoch_length=epoch_length, **sched))
        else:
            schedulers.append(cls(optimizer, **sched))
    return schedulers


def test_vit_small_recipe():
    cfg = Config.fromfile(VIT_S)
    assert cfg.custom_imports == dict(imports=['mmlc'], allow_failed_imports=False)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    backbone = model.backbone
    assert (backbone.embed_dims, len(backbone.layers), backbone.layers[0].attn.num_heads) == (384, 12, 6)
    assert backbone.layers[0].ffn.feedforward_channels == 1536 and backbone.out_type == 'cls_token'
    assert tuple(model.neck.last_layer.weight.shape) == (65536, 256)
    assert [m.out_features for m in model.neck.mlp if isinstance(m, torch.nn.Linear)] == [2048, 2048, 256]
    assert not model.neck.last_layer.parametrizations.weight.original0.requires_grad
    assert max(layer.ffn.dropout_layer.drop_prob for layer in backbone.layers) == pytest.approx(0.1)
    assert all(layer.ffn.dropout_layer.drop_prob == 0 for layer in model.teacher.module[0].layers)
    assert (model.head.student_temp, model.head.teacher_temp, model.head.center_momentum) == (0.1, 0.04, 0.9)
    assert cfg.model.base_momentum == 0.004  # EMA 0.996 -> 1
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert (hooks['DINOTeacherTempHook']['warmup_temp'], hooks['DINOTeacherTempHook']['temp']) == (0.04, 0.04)
    assert hooks['DINOFreezeLastLayerHook']['freeze'] == 1 and hooks['DINOGradClipHook']['max_norm'] == 3.0
    assert 'clip_grad' not in cfg.optim_wrapper  # per-tensor clipping by the hook, not mmengine's joint norm
    # Multi-crop: 2 x 224 px at scale (0.4, 1) and 8 x 96 px at scale (0.05, 0.4).
    multi = cfg.train_dataloader.dataset.pipeline[1]
    assert multi['type'] == 'MultiView' and multi['num_views'] == [1, 1, 8]
    crops = [[t for t in view if t['type'] == 'RandomResizedCrop'][0] for view in multi['transforms']]
    assert [(c['scale'], tuple(c['crop_ratio_range'])) for c in crops] == [(224, (0.4, 1.)), (224, (0.4, 1.)),
                                                                           (96, (0.05, 0.4))]
    assert cfg.train_dataloader.batch_size == 64 and cfg.train_dataloader.drop_last
    # Optimiser: AdamW lr 0.0005 x 512 / 256, weight decay 0.04 on weights only.
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg.update(type='OptimWrapper')  # AmpOptimWrapper needs a GPU; the parameter groups are the same
    wrapper_cfg.pop('loss_scale')
    optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    optimizer = optim_wrapper.optimizer
    assert type(optimizer).__name__ == 'AdamW' and optimizer.defaults['lr'] == pytest.approx(0.001)
    by_param = {id(p): g for g in optimizer.param_groups for p in g['params']}
    wd = {n: by_param[id(p)]['weight_decay'] for n, p in model.named_parameters() if id(p) in by_param}
    assert wd['backbone.layers.0.attn.qkv.weight'] == 0.04 and wd['neck.mlp.0.weight'] == 0.04
    assert wd['backbone.layers.0.attn.qkv.bias'] == 0 and wd['backbone.layers.0.ln1.weight'] == 0
    assert wd['neck.last_layer.parametrizations.weight.original1'] == 0.04
    assert not any(n.startswith('teacher.') for n in wd)
    assert 'neck.last_layer.parametrizations.weight.original0' not in wd  # frozen gains are not optimised
    # Schedules over 100 epochs of E iterations: lr warm-up to 0.001 at the end of epoch 10, cosine to 1e-6;
    # weight decay 0.04 -> 0.4 on a cosine over all iterations, 0 where it starts at 0.
    epoch_length = 4
    total = 100 * epoch_length
    schedulers = _schedulers(cfg, optimizer, epoch_length)
    decayed = by_param[id(model.backbone.layers[0].attn.qkv.weight)]
    plain = by_param[id(model.backbone.layers[0].attn.qkv.bias)]
    seen = {}
    for it in range(total):
        seen[it] = (decayed['lr'], decayed['weight_decay'], plain['weight_decay'])
        for s in schedulers:
            s.step()
    for it in (0, 1, total // 4, total // 2, total - 1):
        want = 0.4 + (0.04 - 0.4) * (1 + math.cos(math.pi * it / total)) / 2
        assert seen[it][1] == pytest.approx(want, rel=1e-6), it
        assert seen[it][2] == 0
    assert seen[0][1] == pytest.approx(0.04) and seen[total // 2][1] == pytest.approx(0.22)
    warm = 10 * epoch_length
    assert seen[warm][0] == pytest.approx(0.001, rel=1e-6)
    assert seen[warm + (total - warm) // 2][0] == pytest.approx(1e-6 + (0.001 - 1e-6) / 2, rel=1e-6)
    assert seen[0][0] < 1e-6 and seen[total - 1][0] < 2e-6
    assert cfg.train_cfg.max_epochs == 100


def test_vit_small_boosted_recipe():
    cfg = Config.fromfile(VIT_S_BOOST)
    hooks = {h['type']: h for h in cfg.custom_hooks}
    temp = hooks['DINOTeacherTempHook']
    assert (temp['warmup_temp'], temp['temp'], temp['warmup']) == (0.04, 0.07, 30)
    assert cfg.model.neck.norm_last_layer is False and cfg.train_cfg.max_epochs == 300
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(0.002) and cfg.auto_scale_lr.base_batch_size == 1024
    assert [s['end'] for s in cfg.param_scheduler] == [10, 300, 300]


def test_resnet50_recipe():
    cfg = Config.fromfile(RN50)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'ResNet' and model.backbone.depth == 50
    assert cfg.model.backbone.norm_cfg == dict(type='SyncBN') and not model.backbone.zero_init_residual
    assert model.neck.with_avg_pool and tuple(model.neck.last_layer.weight.shape) == (65536, 256)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', pytest.approx(0.06), 0.9, 1e-4)
    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']  # constant weight decay
    multi = cfg.train_dataloader.dataset.pipeline[1]
    crops = [[t for t in view if t['type'] == 'RandomResizedCrop'][0] for view in multi['transforms']]
    assert [(c['scale'], tuple(c['crop_ratio_range'])) for c in crops] == [(224, (0.14, 1.)), (224, (0.14, 1.)),
                                                                           (96, (0.05, 0.14))]
    assert multi['num_views'] == [1, 1, 8]


def test_cpu_config_dataset_yields_multi_crop_views():
    cfg = Config.fromfile(CPU)
    init_default_scope(cfg.default_scope)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    item = dataset[0]
    assert [tuple(v.shape) for v in item['inputs']] == [(3, 64, 64)] * 2 + [(3, 32, 32)] * 4
    model = MODELS.build(cfg.model)
    assert model.backbone.embed_dims == 192 and len(model.backbone.layers) == 4
    assert tuple(model.neck.last_layer.weight.shape) == (1024, 128)

# Copyright (c) mmlc contributors. All rights reserved.
"""tools/analysis/mini_study.py: its pure pieces (mmlc.analysis.mini_study) against hand-worked cases, and one
end-to-end smoke study (two runs, 2 iterations, 64 px) that must not retrain when invoked again."""

import json
import math
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

from mmlc.analysis import (aggregate_curves, default_held_out_count, describe_views, find_view_size, format_mean_std,
                           mean_std, parse_jsonl, render_delta_config, render_markdown_table, rescale_interval,
                           rescale_param_schedulers, set_view_size, split_held_out, study_hooks, study_overrides)
from conftest import REPO_ROOT, load_script

TOOL = 'tools/analysis/mini_study.py'

# The demo's schedule shape (its numbers may change; these are the hand-worked case): 30 warm-up iterations of
# 300, then cosine to the end.
WARMUP = dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=30)
COSINE = dict(type='CosineAnnealingLR', T_max=270, by_epoch=False, begin=30, end=300)

# --- schedule --------------------------------------------------------------------------------------------------


def test_rescale_demo_schedule_to_20_iterations():
    # 20 / 300 = 1/15: warm-up end 30 -> 2; cosine begin 30 -> 2, end 300 -> 20, T_max 270 -> 18 (= 20 - 2).
    warmup, cosine = rescale_param_schedulers([WARMUP, COSINE], 300, 20)
    assert warmup == dict(WARMUP, begin=0, end=2)
    assert cosine == dict(COSINE, begin=2, end=20, T_max=18)
    assert WARMUP['end'] == 30 and COSINE['T_max'] == 270  # inputs untouched


def test_rescale_to_the_same_length_is_the_identity_and_doubling_doubles():
    assert rescale_param_schedulers([WARMUP, COSINE], 300, 300) == [WARMUP, COSINE]
    warmup, cosine = rescale_param_schedulers([WARMUP, COSINE], 300, 600)
    assert (warmup['end'], cosine['begin'], cosine['end'], cosine['T_max']) == (60, 60, 600, 540)


def test_rescale_to_a_tiny_run_keeps_every_scheduler_at_least_one_iteration():
    # 2 / 300: the warm-up end 30 -> round(0.2) = 0 would be empty; it keeps one iteration, [0, 1).
    warmup, cosine = rescale_param_schedulers([WARMUP, COSINE], 300, 2)
    assert (warmup['begin'], warmup['end']) == (0, 1)
    assert (cosine['begin'], cosine['end'], cosine['T_max']) == (0, 2, 2)


def test_rescale_other_fields():
    # An open end stays open, a T_max that is not end - begin is scaled on its own, milestones are scaled.
    sched = rescale_param_schedulers(
        dict(type='CosineAnnealingLR', T_max=150, by_epoch=False, begin=30, end=int(1e9)), 300, 20)
    assert sched == [dict(type='CosineAnnealingLR', T_max=10, by_epoch=False, begin=2, end=int(1e9))]
    step = rescale_param_schedulers([dict(type='MultiStepLR', by_epoch=False, milestones=[150, 240])], 300, 20)
    assert step[0]['milestones'] == [10, 16] and 'begin' not in step[0]
    with pytest.raises(ValueError, match='epoch'):
        rescale_param_schedulers([dict(type='LinearLR', end=10)], 300, 20)  # by_epoch defaults to True


def test_rescale_interval():
    assert rescale_interval(50, 300, 20) == 3  # 50/15 = 3.33
    assert rescale_interval(50, 300, 2) == 1  # never 0
    assert rescale_interval(10, 300, 600) == 20


# --- data ------------------------------------------------------------------------------------------------------


def test_split_is_seeded_disjoint_and_complete():
    names = [f'img{i:02d}.png' for i in range(20)]
    train, held = split_held_out(names, 4, seed=0)
    assert len(held) == 4 and len(train) == 16
    assert set(train).isdisjoint(held) and set(train) | set(held) == set(names)
    assert train == sorted(train) and held == sorted(held)
    assert split_held_out(list(reversed(names)), 4, seed=0) == (train, held)  # the names and seed decide it
    assert any(split_held_out(names, 4, seed=s)[1] != held for s in range(1, 6))
    # The held-out set is a seeded permutation's head: numpy's default_rng(0) on 20 items.
    order = np.random.default_rng(0).permutation(20)[:4]
    assert held == sorted(names[i] for i in order)
    for bad in (0, 20):
        with pytest.raises(ValueError):
            split_held_out(names, bad)
    with pytest.raises(ValueError, match='distinct'):
        split_held_out(['a.png', 'a.png', 'b.png'], 1)


def test_default_held_out_count():
    # 20% rounded, at least 1, at most 16, never all of them.
    assert [default_held_out_count(n) for n in (2, 3, 6, 10, 12, 40, 100, 1000)] == [1, 1, 1, 2, 2, 8, 16, 16]
    with pytest.raises(ValueError):
        default_held_out_count(1)


# --- views and the config delta ----------------------------------------------------------------------------------

BYOL_VIEWS = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='RandomResizedCrop', scale=224),
            dict(type='RandomApply', transforms=[dict(type='ColorJitter')])
        ], [dict(type='RandomResizedCrop', scale=224),
            dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
LC_VIEWS = [
    dict(type='LoadImageOrSkip'),
    dict(type='PairedCorrespondenceTransform', size=112),
    dict(type='PackInputs', algorithm_keys=['sc_box', 'sc_flip', 'src_shape'])
]


def test_view_size_found_and_set_in_nested_pipelines():
    assert find_view_size(BYOL_VIEWS) == 224 and find_view_size(LC_VIEWS) == 112
    byol = set_view_size(BYOL_VIEWS, 64)
    assert [v[0]['scale'] for v in byol[1]['transforms']] == [64, 64]
    assert BYOL_VIEWS[1]['transforms'][0][0]['scale'] == 224  # a copy
    assert set_view_size(LC_VIEWS, 64)[1]['size'] == 64
    with pytest.raises(ValueError, match='view'):
        set_view_size([dict(type='LoadImageFromFile')], 64)
    assert describe_views(BYOL_VIEWS) == 'two random resized crops'
    assert describe_views(LC_VIEWS).startswith('I_c + I_sc')


def test_study_hooks_replace_the_correspondence_hooks():
    hooks = [
        dict(type='SomeOtherHook', x=1),
        dict(type='CorrespondenceAccuracyHook', interval=50, names=('train.png', ), size=112, colour=False),
        dict(type='CorrespondenceAccuracyHook', name='corr_train', names=('train.png', ))
    ]
    other, study = study_hooks(hooks, '/held', ['a.png', 'b c.png'], 64, 3)
    assert other == hooks[0]
    assert study['name'] == 'corr' and study['interval'] == 3 and study['mode'] == 'flip' and study['colour']
    assert (study['data_root'], study['names'], study['max_images'], study['size']) == ('/held', ('a.png', 'b c.png'),
                                                                                        2, 64)
    assert (study['stage'], study['use_local_neck'], study['branch'], study['seed']) == (-1, False, 'online', 0)
    assert [h['type']
            for h in study_hooks(hooks[:1], None, ['x'], 64, 1)] == ['SomeOtherHook', 'CorrespondenceAccuracyHook']


def test_study_overrides_of_the_demo_config_round_trip_through_a_delta(tmp_path):
    tool = load_script(TOOL)
    base_path = osp.join(REPO_ROOT, tool.DEMO_CONFIG)
    base = Config.fromfile(base_path)
    old = base.train_cfg.max_iters
    train = ['a b.png', 'c,d.png', '1.png']  # names that --cfg-options could not carry
    over = study_overrides(
        base, iters=20, size=64, seed=3, train_root='/data', train_names=train, held_root='/data', held_names=['h.png'])
    delta = tmp_path / 'delta.py'
    delta.write_text(render_delta_config(base_path, over, comment='test'))
    cfg = Config.fromfile(str(delta))
    ds = cfg.train_dataloader.dataset
    assert (ds.type, list(ds.names), ds.data_root) == ('BundledPhotos', train, '/data')
    assert find_view_size(ds.pipeline) == 64
    assert cfg.randomness.seed == 3 and cfg.train_cfg.max_iters == 20
    assert cfg.default_hooks.checkpoint.interval == 20 and not cfg.default_hooks.checkpoint.by_epoch
    assert cfg.param_scheduler[-1]['end'] == 20  # the schedule ends with the run
    assert cfg.param_scheduler == rescale_param_schedulers(base.param_scheduler, old, 20)
    corr = [h for h in cfg.custom_hooks if h['type'] == 'CorrespondenceAccuracyHook']
    assert len(corr) == 1 and list(corr[0]['names']) == ['h.png'] and corr[0]['size'] == 64
    assert cfg.model == base.model  # the study changes no model setting


def test_byol_config_is_mmpretrain_byol_with_the_demo_parts():
    tool = load_script(TOOL)
    demo = Config.fromfile(osp.join(REPO_ROOT, tool.DEMO_CONFIG))
    byol = Config.fromfile(osp.join(REPO_ROOT, tool.demo_variant('byol')))
    assert byol.model.type == 'BYOL'
    for key in ('backbone', 'neck', 'head', 'base_momentum'):
        assert byol.model[key] == demo.model[key]
    pipeline = byol.train_dataloader.dataset.pipeline
    assert describe_views(pipeline) == 'two random resized crops'
    assert find_view_size(pipeline) == find_view_size(demo.train_dataloader.dataset.pipeline)
    multiview = [t for t in pipeline if t['type'] == 'MultiView'][0]
    assert multiview['num_views'] == [1, 1] and len(multiview['transforms']) == 2
    assert byol.custom_hooks == demo.custom_hooks and byol.param_scheduler == demo.param_scheduler


def test_runs_and_data_resolution(tmp_path):
    tool = load_script(TOOL)
    head, name = osp.split(tool.DEMO_CONFIG)
    assert tool.demo_variant('byol') == osp.join(head, 'byol' + name[len('byol-lc'):])
    runs = tool.resolve_runs(['byol', 'byol-lcviews', 'byol-lc'], [0.3], [])
    assert [r.name for r in runs] == ['byol', 'byol-lcviews', 'byol-lc', 'byol-lc-alpha0.3']
    assert [r.model for r in runs] == [{}, dict(alpha=0.), {}, dict(alpha=0.3)]
    assert runs[1].config == runs[2].config == tool.DEMO_CONFIG
    for bad in (['byol', 'byol'], ['nonsense']):
        with pytest.raises(SystemExit):
            tool.resolve_runs(bad, [], [])
    # Bundled photos by default; --held-out DIR removes that folder's files from a --data folder's training set.
    split = tool.resolve_data(None, None, 0)
    assert split.train_root is None and set(split.train).isdisjoint(split.held) and len(split.held) == 8
    for name in ('a.png', 'b.png', 'held/c.png', 'held/d.png'):
        os.makedirs(osp.dirname(tmp_path / name), exist_ok=True)
        Image.new('RGB', (8, 8)).save(tmp_path / name)
    split = tool.resolve_data(str(tmp_path), str(tmp_path / 'held'), 0)
    assert (split.train, split.held) == (['a.png', 'b.png'], ['c.png', 'd.png'])
    split = tool.resolve_data(str(tmp_path), '1', 0)
    assert len(split.held) == 1 and sorted(split.train + split.held) == ['a.png', 'b.png', 'held/c.png', 'held/d.png']
    with pytest.raises(SystemExit):
        tool.resolve_data(None, '3', 0)  # the bundled photos have their own held-out set


def test_mocov3_runs_resolve_to_configs_that_build(tmp_path):
    """The three MoCo v3 arms: plain MoCo v3 on its own views, the LC demo at alpha 0 on LC's views, the LC demo;
    each through the study's own delta (data, budget, view size, hook) to a model that builds."""
    tool = load_script(TOOL)
    runs = tool.resolve_runs(['mocov3', 'mocov3-lcviews', 'mocov3-lc'], [], [])
    assert [r.model for r in runs] == [{}, dict(alpha=0.), {}]
    assert runs[1].config == runs[2].config == tool.MOCOV3_LC_CONFIG and runs[0].config == tool.MOCOV3_CONFIG
    built = {}
    for run in runs:
        over = study_overrides(
            Config.fromfile(run.config_path),
            iters=4,
            size=96,
            seed=0,
            train_root=None,
            train_names=['camera', 'coins'],
            held_root=None,
            held_names=['astronaut'])
        if run.model:
            over = dict(model=run.model, **over)
        delta = tmp_path / f'{run.name}.py'
        delta.write_text(render_delta_config(run.config_path, over))
        cfg = Config.fromfile(str(delta))
        assert cfg.train_cfg.max_iters == 4 and find_view_size(cfg.train_dataloader.dataset.pipeline) == 96
        built[run.name] = (MODELS.build(cfg.model), describe_views(cfg.train_dataloader.dataset.pipeline))
    (base, base_views), (lcviews, lc_views), (lc, _) = built.values()
    assert type(base).__name__ == 'MoCoV3' and base_views == 'two random resized crops'
    assert type(lcviews).__name__ == type(lc).__name__ == 'MoCoV3LocalContrast' and lc_views.startswith('I_c + I_sc')
    assert lcviews.alpha == 0. and lc.alpha > 0
    # The same network in all three (the plain one without the local branch).
    assert {
        k: v.shape
        for k, v in base.state_dict().items()
    } == {
        k: v.shape
        for k, v in lc.state_dict().items() if not k.startswith(('local_neck.', 'target_local_neck.'))
    }


def test_local_crops_keep_their_ratio_to_the_global_views():
    # DINO's multi-crop: global 224 px, local 96 px. At 64 px the local crops become round(96 * 64 / 224) = 27 px.
    dino = [
        dict(
            type='MultiView',
            num_views=[1, 1, 8],
            transforms=[[dict(type='RandomResizedCrop', scale=224)], [dict(type='RandomResizedCrop', scale=224)],
                        [dict(type='RandomResizedCrop', scale=96)]])
    ]
    assert [v[0]['scale'] for v in set_view_size(dino, 64)[0]['transforms']] == [64, 64, 27]
    assert describe_views(dino) == 'two random resized crops + local crops'
    paired = [
        dict(
            type='PairedMultiCrop',
            num_local_crops=4,
            transforms=[[dict(type='PairedCorrespondenceTransform', size=64)],
                        [dict(type='RandomResizedCrop', scale=32)]])
    ]
    out = set_view_size(paired, 96)[0]['transforms']
    assert (out[0][0]['size'], out[1][0]['scale']) == (96, 48)
    assert describe_views(paired).startswith('I_c + I_sc') and describe_views(paired).endswith('+ local crops')


def test_dino_runs_resolve_to_configs_that_build(tmp_path):
    """The three DINO arms: the DINO demo on its own multi-crop views, the DINO + LC demo at alpha 0 (I_c, I_sc and
    the same local crops), the DINO + LC demo; each through the study's own delta to a model that builds and a
    dataset whose views have the study's size, the local crops at half of it as in the demos."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    tool = load_script(TOOL)
    runs = tool.resolve_runs(['dino', 'dino-lcviews', 'dino-lc'], [], [])
    assert [r.model for r in runs] == [{}, dict(alpha=0.), {}]
    assert runs[1].config == runs[2].config == tool.DINO_LC_CONFIG and runs[0].config == tool.DINO_CONFIG
    built = {}
    for run in runs:
        over = study_overrides(
            Config.fromfile(run.config_path),
            iters=4,
            size=96,
            seed=0,
            train_root=None,
            train_names=['camera', 'coins'],
            held_root=None,
            held_names=['astronaut'])
        if run.model:
            over = dict(model=run.model, **over)
        delta = tmp_path / f'{run.name}.py'
        delta.write_text(render_delta_config(run.config_path, over))
        cfg = Config.fromfile(str(delta))
        assert cfg.train_cfg.max_iters == 4 and find_view_size(cfg.train_dataloader.dataset.pipeline) == 96
        init_default_scope(cfg.default_scope)
        item = DATASETS.build(cfg.train_dataloader.dataset)[0]
        assert [tuple(v.shape) for v in item['inputs']] == [(3, 96, 96)] * 2 + [(3, 48, 48)] * 4
        built[run.name] = (MODELS.build(cfg.model), describe_views(cfg.train_dataloader.dataset.pipeline))
    (base, base_views), (lcviews, lc_views), (lc, _) = built.values()
    assert type(base).__name__ == 'DINO' and base_views == 'two random resized crops + local crops'
    assert type(lcviews).__name__ == type(lc).__name__ == 'DINOLocalContrast' and lc_views.startswith('I_c + I_sc')
    assert lcviews.alpha == 0. and lc.alpha > 0
    # The same network in all three (the plain one without the local branch).
    assert {
        k: v.shape
        for k, v in base.state_dict().items()
    } == {
        k: v.shape
        for k, v in lc.state_dict().items() if not k.startswith(('local_neck.', 'target_local_neck.'))
    }


# --- results ---------------------------------------------------------------------------------------------------


def test_mean_std_is_the_sample_std():
    # 0.1, 0.2, 0.3: mean 0.2; squared deviations 0.01 + 0 + 0.01 = 0.02, / (3 - 1) = 0.01, std 0.1.
    stat = mean_std([0.1, 0.2, 0.3])
    assert stat['n'] == 3 and math.isclose(stat['mean'], 0.2) and math.isclose(stat['std'], 0.1)
    assert mean_std([0.25]) == dict(mean=0.25, std=None, n=1)
    assert mean_std([0.5, None, float('nan'), 0.7])['n'] == 2
    assert mean_std([]) == dict(mean=None, std=None, n=0)
    assert format_mean_std(stat) == '20.0 ± 10.0'
    assert format_mean_std(mean_std([0.25])) == '25.0'
    assert format_mean_std(mean_std([])) == '–'


def test_markdown_table():
    text = render_markdown_table(['run', 'acc'], [['byol', '8.3'], ['a|b', 1]])
    assert text == '| run | acc |\n|---|---|\n| byol | 8.3 |\n| a\\|b | 1 |\n'
    with pytest.raises(ValueError):
        render_markdown_table(['a', 'b'], [['only one']])


def test_jsonl_keeps_the_last_line_of_a_repeated_iteration():
    lines = [
        json.dumps(dict(iter=0, acc=0.1)),
        json.dumps(dict(iter=50, acc=0.2)),
        json.dumps(dict(iter=100, acc=0.3)),
        # resumed from iteration 50: iteration 100 is measured again
        json.dumps(dict(iter=100, acc=0.4)),
        '',
        json.dumps(dict(iter=150, acc=0.5)),
        '{"iter": 200, "ac'
    ]
    records = parse_jsonl(lines)
    assert [(r['iter'], r['acc']) for r in records] == [(0, 0.1), (50, 0.2), (100, 0.4), (150, 0.5)]


def test_aggregate_curves_over_seeds():
    seed0 = [dict(iter=0, acc=0.1, local_acc=None), dict(iter=1, acc=0.3), dict(iter=2, acc=0.5)]
    seed1 = [dict(iter=0, acc=0.3), dict(iter=1, acc=0.3)]
    iters, mean, std = aggregate_curves([seed0, seed1], 'acc')
    # Iterations both seeds measured: 0 and 1. At 0: mean 0.2, sample std sqrt(2 * 0.1**2 / 1) = 0.1414.
    assert iters.tolist() == [0, 1]
    np.testing.assert_allclose(mean, [0.2, 0.3])
    np.testing.assert_allclose(std, [math.sqrt(0.02), 0.])
    assert aggregate_curves([seed0], 'local_acc')[0].size == 0
    np.testing.assert_allclose(aggregate_curves([seed0], 'acc')[2], 0.)


# --- end to end --------------------------------------------------------------------------------------------------

FAST = [
    '--cfg-options', 'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False'
]


def _texture_folder(root) -> list:
    """6 random-texture 96 px PNGs (low-frequency colour noise), one in a sub-folder with a space in its name."""
    rng = np.random.default_rng(0)
    names = [f'tex{i}.png' for i in range(5)] + ['sub/tex 5.png']
    for name in names:
        coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((96, 96), Image.BICUBIC)
        os.makedirs(osp.dirname(osp.join(root, name)), exist_ok=True)
        img.save(osp.join(root, name))
    return names


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    data = tmp_path_factory.mktemp('images')
    names = _texture_folder(str(data))
    work = tmp_path_factory.mktemp('study')
    argv = [
        '--data',
        str(data), '--held-out', '2', '--runs', 'byol', 'byol-lc', '--seeds', '0', '--iters', '2', '--size', '64',
        '--map-images', '2', '--map-px', '64', '--work-dir',
        str(work), *FAST
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('OMP_NUM_THREADS', '1')  # the trainings share the machine's cores with everyone else
        results = load_script(TOOL).main(argv)
    return results, argv, work, names


def test_study_writes_its_results(study):
    results, _, work, names = study
    assert not results['failed'], results['failed']
    for name in ('results.json', 'results.md', 'heldout_accuracy.png', 'correspondence_maps.png'):
        assert osp.isfile(work / name), name
    for name in ('heldout_accuracy.png', 'correspondence_maps.png'):
        with Image.open(work / name) as img:
            img.verify()
            assert img.format == 'PNG' and min(img.size) > 50
    with open(work / 'results.json') as f:
        assert json.load(f)['runs'].keys() == {'byol', 'byol-lc'}
    md = (work / 'results.md').read_text()
    assert '| byol |' in md and '| byol-lc |' in md and 'Confound' in md and 'Chance on the 2x2 map' in md
    # The split: 2 held out, the rest trained on, never both.
    data = results['data']
    assert len(data['held_out']) == 2 and sorted(data['train'] + data['held_out']) == sorted(names)


def test_study_metrics(study):
    results, _, work, _ = study
    byol, lc = results['runs']['byol'], results['runs']['byol-lc']
    assert byol['views'] == 'two random resized crops' and lc['views'].startswith('I_c + I_sc')
    for run in (byol, lc):
        metrics = run['seeds']['0']
        for part in metrics['final'].values():
            for mode in ('flip', 'crop'):
                for key in ('accuracy', 'same_position_rate', 'image_std', 'image_min', 'image_max'):
                    value = part[mode][key]
                    assert value is None or 0 <= value <= 1, (key, value)
        assert metrics['final']['backbone']['flip']['chance'] == 0.25  # 64 px -> 2x2 last-stage map
        assert metrics['iter0'] is not None and metrics['iter0']['iter'] == 0 and metrics['wall_time_s'] > 0
        # The hook scored the same held-out pairs and part as the final evaluation: its last line is the same value.
        assert metrics['curve'][-1]['iter'] == 2
        assert math.isclose(metrics['curve'][-1]['acc'], metrics['final']['backbone']['flip']['accuracy'])
        assert run['summary']['flip']['n'] == 1 and run['summary']['flip']['std'] is None
    assert 'local' not in byol['seeds']['0']['final'] and byol['summary']['local_flip']['n'] == 0
    assert byol['seeds']['0']['iter0'].get('local_acc') is None
    assert 'local' in lc['seeds']['0']['final'] and lc['summary']['local_flip']['n'] == 1
    lc0 = lc['seeds']['0']
    assert math.isclose(lc0['curve'][-1]['local_acc'], lc0['final']['local']['flip']['accuracy'])
    # Each run trained on the training split only; its hook scored the held-out split.
    delta = Config.fromfile(lc['seeds']['0']['delta_config'])
    assert sorted(delta.train_dataloader.dataset.names) == sorted(results['data']['train'])
    assert list(delta.custom_hooks[0]['names']) == results['data']['held_out']


def test_second_invocation_does_not_retrain(study, monkeypatch):
    results, argv, work, _ = study
    ckpts = {name: run['seeds']['0']['checkpoint'] for name, run in results['runs'].items()}
    mtimes = {name: os.stat(p).st_mtime_ns for name, p in ckpts.items()}
    tool = load_script(TOOL)

    def no_training(*args, **kwargs):
        raise AssertionError(f'a finished run was trained again: {args}')

    monkeypatch.setattr(tool.subprocess, 'call', no_training)
    again = tool.main(argv)
    assert {name: os.stat(p).st_mtime_ns for name, p in ckpts.items()} == mtimes
    for name in ckpts:
        assert again['runs'][name]['summary'] == results['runs'][name]['summary']

# Copyright (c) mmlc contributors. All rights reserved.
"""configs/*/metafile.yml, model-index.yml and the model-zoo tables, against the configs, each other, hand-derived
figures and mmpretrain's own metafile.

When a config is added or changed, `python tools/misc/update_model_zoo.py`
brings all of them up to date; these tests name what is out of step.
"""

import copy
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

from conftest import DEMO_CONFIG, REPO_ROOT, load_script

RUN_TOOL = 'run `python tools/misc/update_model_zoo.py` (add --skip-flops to keep FLOPs/params)'
BYOL_LC_400E = 'byol-lc_resnet50_16xb256-coslr-400e_in1k'
BYOL_400E = 'byol_resnet50_16xb256-coslr-400e_in1k'


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/misc/update_model_zoo.py')


@pytest.fixture(scope='module')
def metafiles(tool):
    return tool.load_metafiles(REPO_ROOT)


@pytest.fixture(scope='module')
def entries(metafiles):
    """Every Models entry by name."""
    return {m['Name']: m for data in metafiles.values() for m in data.get('Models') or []}


def test_every_config_has_an_entry_and_every_entry_a_config(tool):
    problems = tool.coverage_problems(REPO_ROOT)
    assert not problems, '\n'.join(problems + [RUN_TOOL])


def _write(path, text=''):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_coverage_check_names_each_missing_config_and_entry(tool, tmp_path):
    _write(tmp_path / 'configs/x/new_resnet18_1xb8-coslr-300i_bundled-photos.py')
    _write(tmp_path / 'configs/x/kept_resnet18_1xb8-coslr-300i_bundled-photos.py')
    _write(tmp_path / 'configs/x/_base_/base.py')  # a base is not an experiment
    _write(
        tmp_path / 'configs/x/metafile.yml',
        yaml.safe_dump({
            'Models': [{
                'Name': 'kept',
                'Config': 'configs/x/kept_resnet18_1xb8-coslr-300i_bundled-photos.py'
            }, {
                'Name': 'gone',
                'Config': 'configs/x/gone_resnet18_1xb8-coslr-300i_bundled-photos.py'
            }]
        }))
    _write(tmp_path / 'configs/y/other_resnet18_1xb8-coslr-300i_bundled-photos.py')  # a new folder, no metafile
    _write(tmp_path / 'model-index.yml', yaml.safe_dump({'Import': ['configs/x/metafile.yml']}))
    assert tool.coverage_problems(str(tmp_path)) == [
        'model-index.yml does not import configs/y/metafile.yml',
        'configs/x/new_resnet18_1xb8-coslr-300i_bundled-photos.py has no entry in configs/x/metafile.yml',
        'configs/x/metafile.yml has an entry for configs/x/gone_resnet18_1xb8-coslr-300i_bundled-photos.py, '
        'which does not exist',
        'configs/y/other_resnet18_1xb8-coslr-300i_bundled-photos.py has no entry in configs/y/metafile.yml',
    ]


def test_metafiles_load_with_the_model_index_library_mim_uses():
    from modelindex.load_model_index import load

    index = load(osp.join(REPO_ROOT, 'model-index.yml'))
    index.build_models_with_collections()
    names = {c.name for c in index.collections}
    assert index.models and all(m.in_collection in names for m in index.models)


def test_names_are_unique_and_a_second_hosts_carry_it(tool, metafiles):
    names = [m['Name'] for data in metafiles.values() for m in data.get('Models') or []]
    assert len(names) == len(set(names))
    cfg = 'configs/mmselfsup/byol-lc_resnet50_16xb256-coslr-400e_in1k.py'
    assert tool.entry_name(cfg) == 'byol-lc_resnet50_16xb256-coslr-400e_in1k_mmselfsup'
    assert tool.entry_name(cfg.replace('mmselfsup', 'byol_lc')) == 'byol-lc_resnet50_16xb256-coslr-400e_in1k'


def test_entries_are_complete(tool, metafiles, entries):
    downstream = {name for name, m in entries.items() if m['Config'].startswith('configs/benchmarks/')}
    for path, data in metafiles.items():
        collections = {c['Name']: c for c in data['Collections']}
        for c in collections.values():
            assert c['Paper']['Title'] and c['Paper']['URL'].startswith('https://arxiv.org/abs/'), (path, c['Name'])
            assert osp.exists(osp.join(REPO_ROOT, c['README'])), (path, c['README'])
        for m in data['Models']:
            where = f'{path}: {m["Name"]}'
            assert m['Name'] == tool.entry_name(m['Config']), where
            assert m['Config'].startswith(osp.dirname(path) + '/'), where  # an entry lives beside its config
            assert m['In Collection'] in collections, where
            assert m['Weights'] is None and m['Results'] is None, f'{where}: no checkpoints or results exist yet'
            meta = m['Metadata']
            assert meta['Training Data'] and meta['Training Techniques'] and meta['Training Resources'], where
            assert ('Epochs' in meta) != ('Iterations' in meta) and meta['Batch Size'] > 0, where
            if m['Name'] not in downstream:
                assert meta['FLOPs'] > 0 and meta['Parameters'] > 0, where
            assert set(m.get('Downstream') or []) <= downstream, f'{where}: Downstream names an unknown entry'
    # The downstream protocols default to the paper's model's checkpoint (configs/benchmarks/_base_).
    assert set(entries[BYOL_LC_400E]['Downstream']) == {n for n in downstream if '_r50' in n}


def test_computed_fields_match_the_configs(tool, entries):
    """Every entry's config-derived Metadata (all but FLOPs/params) is what the config gives today."""
    stale = []
    for name, entry in entries.items():
        now = tool.computed_metadata(REPO_ROOT, entry['Config'], flops=False)
        stale += [
            f'{entry["Config"]}: {key} is {entry["Metadata"].get(key)!r} in the metafile, the config gives '
            f'{value!r}' for key, value in now.items() if entry['Metadata'].get(key) != value
        ]
    assert not stale, '\n'.join(stale + [RUN_TOOL])


def test_computed_fields_of_the_paper_recipe_by_hand(entries):
    meta = entries[BYOL_LC_400E]['Metadata']
    # §4.1: 16 GPUs x 256 images, 400 epochs, LARS, fp16, warm-up then cosine, on ImageNet.
    assert (meta['Batch Size'], meta['Epochs'], meta['Training Resources'],
            meta['Training Data']) == (4096, 400, '16x GPUs', 'ImageNet-1k')
    assert meta['Training Techniques'] == ['LARS', 'Mixed Precision Training', 'Linear Warmup', 'Cosine Annealing']
    demo = entries[osp.splitext(osp.basename(DEMO_CONFIG))[0]]['Metadata']
    assert (demo['Batch Size'], demo['Iterations'], demo['Training Resources']) == (8, 300, '1 CPU process')


def test_flops_and_params_against_mmpretrain_and_by_hand(tool, entries):
    byol, lc = entries[BYOL_400E]['Metadata'], entries[BYOL_LC_400E]['Metadata']
    # The BYOL baseline is mmpretrain's BYOL network: mmpretrain's metafile gives the same two figures.
    import mmpretrain
    theirs = tool.load_yaml(osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'byol', 'metafile.yml'))
    ref = next(m for m in theirs['Models'] if m['Name'] == 'byol_resnet50_16xb256-coslr-200e_in1k')['Metadata']
    assert (byol['FLOPs'], byol['Parameters']) == (ref['FLOPs'], ref['Parameters'])
    # BYOL + LC adds an online and a target local projector: 1x1 conv in->hid (no bias), BN (weight, bias),
    # 1x1 conv hid->out with bias; the backbone and its FLOPs on the 224 px view are unchanged.
    neck = Config.fromfile(osp.join(REPO_ROOT, entries[BYOL_LC_400E]['Config'])).model.local_neck
    one = neck.in_channels * neck.hid_channels + 2 * neck.hid_channels + neck.hid_channels * neck.out_channels\
        + neck.out_channels
    assert lc['Parameters'] - byol['Parameters'] == 2 * one
    assert lc['FLOPs'] == byol['FLOPs']
    # At 160 px every ResNet-50 map is 5/7 of its 224 px side (160 / 32 = 5, 224 / 32 = 7) and every counted
    # operation is per cell, so the FLOPs scale by exactly 25/49.
    small = entries['byol-lc_resnet50_16xb256-coslr-200e_in1k-160px']['Metadata']
    assert small['FLOPs'] * 49 == lc['FLOPs'] * 25


def test_flops_and_params_recounted_for_the_demo(tool, entries):
    """The stored figures are what get_flops' counter gives on the view size read from the config (192 px)."""
    config = osp.relpath(DEMO_CONFIG, REPO_ROOT)
    cfg = Config.fromfile(DEMO_CONFIG)
    assert tool.view_size(cfg, config) == cfg.size == 192
    meta = entries[osp.splitext(osp.basename(config))[0]]['Metadata']
    assert tool.flops_and_params(REPO_ROOT, config, 192) == (meta['FLOPs'], meta['Parameters'])


def test_readme_block_and_model_zoo_doc_are_the_tools_output(tool, metafiles):
    readme = open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8').read()
    start, end = readme.index(tool.README_START), readme.index(tool.README_END) + len(tool.README_END)
    assert readme[start:end] == tool.readme_block(metafiles), f'README.md model-zoo block is stale: {RUN_TOOL}'
    doc = open(osp.join(REPO_ROOT, tool.ZOO_DOC), encoding='utf-8').read()
    assert doc == tool.zoo_doc(metafiles), f'{tool.ZOO_DOC} is stale: {RUN_TOOL}'


def base_closure(configs):
    """``configs`` and the local configs they inherit from, repository-relative."""
    todo, seen = list(configs), set()
    while todo:
        config = todo.pop()
        if config not in seen:
            seen.add(config)
            path = osp.join(REPO_ROOT, config)
            todo += [
                osp.relpath(osp.normpath(osp.join(osp.dirname(path), base)), REPO_ROOT)
                for base in Config._get_base_files(path) if '::' not in base
            ]
    return sorted(seen)


def test_tool_writes_entries_and_check_mode_finds_a_stale_field(tool, metafiles, entries, tmp_path, capsys):
    """On a copy of a few configs whose metafiles lack an entry, hold a stale field and an entry for a config that
    is gone, the tool writes exactly the repository's entries (hand-written Downstream kept); then --check passes,
    and fails naming the metafile once a field goes stale again."""
    demo = 'configs/byol_lc/byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py'
    configs = base_closure([demo, 'configs/densecl/densecl_resnet18_1xb8-coslr-300i_bundled-photos.py'])
    for config in configs:
        _write(tmp_path / config, open(osp.join(REPO_ROOT, config)).read())
    by_config = {m['Config']: m for m in entries.values()}
    byol_lc = [copy.deepcopy(by_config[c]) for c in configs if c.startswith('configs/byol_lc/') and c != demo]
    byol_lc[-1]['Metadata']['Batch Size'] = 1
    byol_lc.append({'Name': 'gone', 'Config': 'configs/byol_lc/gone.py', 'In Collection': 'BYOL'})
    for folder, models in (('byol_lc', byol_lc), ('densecl', [])):
        path = f'configs/{folder}/metafile.yml'
        _write(tmp_path / path, tool.dump_yaml({'Collections': metafiles[path]['Collections'], 'Models': models}))
    _write(tmp_path / 'README.md', f'# x\n{tool.README_START}\n{tool.README_END}\n')
    (tmp_path / 'docs').mkdir()

    # --skip-flops: FLOPs/params are counted only for the two new entries (ResNet-18s).
    assert tool.main(['--root', str(tmp_path), '--skip-flops']) == 0
    written = {m['Config']: m for data in tool.load_metafiles(str(tmp_path)).values() for m in data['Models']}
    assert written == {c: by_config[c] for c in configs}
    assert tool.main(['--root', str(tmp_path), '--check', '--skip-flops']) == 0

    path = tmp_path / 'configs/densecl/metafile.yml'
    data = tool.load_yaml(str(path))
    data['Models'][0]['Metadata']['Batch Size'] = 16
    path.write_text(tool.dump_yaml(data))
    capsys.readouterr()
    assert tool.main(['--root', str(tmp_path), '--check', '--skip-flops']) == 1
    assert 'out of date: configs/densecl/metafile.yml' in capsys.readouterr().out

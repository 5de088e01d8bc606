# Copyright (c) mmlc contributors. All rights reserved.
"""Keep ``configs/*/metafile.yml``, ``model-index.yml`` and the model-zoo tables in step with the configs.

    python tools/misc/update_model_zoo.py                # write metafiles, model-index.yml, README block, docs
    python tools/misc/update_model_zoo.py --skip-flops   # the same, keeping FLOPs/params already written
    python tools/misc/update_model_zoo.py --check        # write nothing; exit 1 saying what is out of date

One ``metafile.yml`` per top-level folder of ``configs/`` (mmpretrain's layout; ``_base_`` folders hold no
experiments), with hand-written ``Collections`` (paper title and URL, architecture, resources) and ``Models``
entries, one per config. The tool adds an entry for every config that has none (its ``In Collection`` is the
only collection of the metafile, or the one whose name is the longest prefix of the config's algorithm
field), drops entries whose config is gone, and rewrites each entry's computed fields from its config:

* ``Training Data`` (from the name's data field), ``Training Techniques`` (optimiser, fp16, lr schedule),
  ``Training Resources`` (the name's ``{gpus}x``: GPUs, or CPU processes for a gloo config), ``Epochs`` or
  ``Iterations``, ``Batch Size`` (total: gpus x per-GPU batch), and ``Architecture`` for downstream configs;
* for pretraining configs ``FLOPs``: the backbone's forward multiply-adds on one square training view of the
  config's largest crop size, counted by ``tools/analysis/get_flops.py`` (for BYOL's ResNet-50 at 224 px
  this is the figure in mmpretrain's own metafile), and ``Parameters``: every parameter of the model, EMA
  target included (as mmpretrain counts them).

Hand-written fields (``In Collection`` once set, ``Downstream``, ``Results``, ``Weights``, any other key) are
kept. ``Weights`` stays ``null`` until checkpoints are published. The model-zoo tables are generated from the
metafiles alone: the block between ``<!-- model-zoo:start -->`` and ``<!-- model-zoo:end -->`` in README.md
and the whole of docs/model_zoo.md.
"""

import argparse
import copy
import glob
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

REPO_ROOT = osp.abspath(osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
sys.path.insert(0, REPO_ROOT)  # a checkout without install

DOWNSTREAM_FOLDER = 'benchmarks'
README_START, README_END = '<!-- model-zoo:start -->', '<!-- model-zoo:end -->'
ZOO_DOC = osp.join('docs', 'model_zoo.md')
TOOL = 'tools/misc/update_model_zoo.py'

# A config name's data field -> Training Data. The longest key that starts the field wins, so that
# `in1k-160px` reads as ImageNet-1k and `coco-10pct` as its own subset.
DATA_TAGS = {
    'in1k': 'ImageNet-1k',
    'in100': 'ImageNet-100',
    'bundled-photos': 'Bundled photos',
    'voc0712': 'PASCAL VOC 07+12',
    'voc12aug': 'PASCAL VOC 2012 aug',
    'coco': 'COCO 2017',
    'coco-10pct': 'COCO 2017 (10% of train)',
    'coco-5pct': 'COCO 2017 (5% of train)',
    'cityscapes': 'Cityscapes',
    'ade20k': 'ADE20K',
}
OPTIMIZERS = {'LARS': 'LARS', 'SGD': 'SGD with Momentum', 'AdamW': 'AdamW', 'Adam': 'Adam', 'LAMB': 'LAMB'}
SCHEDULERS = {
    'LinearLR': 'Linear Warmup',
    'CosineAnnealingLR': 'Cosine Annealing',
    'MultiStepLR': 'Multi-step LR',
    'PolyLR': 'Poly LR',
    'StepLR': 'Step LR',
    'CosineAnnealingWeightDecay': 'Cosine Weight Decay'
}
COMPUTED_KEYS = ('Training Data', 'Training Techniques', 'Training Resources', 'Architecture', 'Epochs', 'Iterations',
                 'Batch Size', 'FLOPs', 'Parameters')
ENTRY_ORDER = ('Name', 'Metadata', 'In Collection', 'Results', 'Weights', 'Config', 'Downstream')
NAME_GPUS_BATCH = re.compile(r'_(\d+)xb(\d+)-')
#: Config folders of a second host (MMSelfSup 1.0.0). Their configs keep the file names of their mmpretrain-hosted
#: twins, so their model-index names carry the host: ``<config name>_mmselfsup``.
HOST_FOLDERS = ('mmselfsup', )


class ModelZooError(RuntimeError):
    """A config or metafile the tool cannot handle without a hand-written addition."""


# ----------------------------------------------------------------------------------------------- discovery
def config_folders(root: str) -> List[str]:
    """Top-level folders of ``configs/`` that hold at least one experiment config, e.g. ``['benchmarks', ...]``."""
    folders = []
    for path in sorted(glob.glob(osp.join(root, 'configs', '*', ''))):
        name = osp.basename(osp.dirname(path))
        if name != '_base_' and experiment_configs(root, name):
            folders.append(name)
    return folders


def experiment_configs(root: str, folder: str) -> List[str]:
    """Configs of ``configs/<folder>`` (recursively, ``_base_`` folders excluded), repository-relative."""
    paths = glob.glob(osp.join(root, 'configs', folder, '**', '*.py'), recursive=True)
    rel = (osp.relpath(p, root).replace(os.sep, '/') for p in paths)
    return sorted(p for p in rel if '_base_' not in p.split('/'))


def is_downstream(config: str) -> bool:
    """Whether a repository-relative config path is a downstream benchmark (mmdet/mmseg) config."""
    return config.split('/')[1] == DOWNSTREAM_FOLDER


def entry_name(config: str) -> str:
    """A config's model-index name: its file name without ``.py``, plus ``_<host>`` in a :data:`HOST_FOLDERS`
    folder, so that every name in model-index.yml is unique."""
    name = osp.splitext(osp.basename(config))[0]
    folder = config.split('/')[1]
    return f'{name}_{folder}' if folder in HOST_FOLDERS else name


def metafile_path(root: str, folder: str) -> str:
    return osp.join(root, 'configs', folder, 'metafile.yml')


# ------------------------------------------------------------------------------------------- yaml in/out
class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as OpenMMLab's metafiles are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True, width=120)


def load_yaml(path: str) -> dict:
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f) or {}


# ------------------------------------------------------------------------------------- fields from configs
def gpus_and_batch(config: str) -> Tuple[int, int]:
    """``(gpus, per-GPU batch)`` from a name such as ``..._16xb256-coslr-400e_in1k.py``."""
    match = NAME_GPUS_BATCH.search(osp.basename(config))
    if match is None:
        raise ModelZooError(f'{config}: the name has no `{{gpus}}xb{{batch}}-` field')
    return int(match[1]), int(match[2])


def training_data(config: str) -> str:
    """Training Data from the name's last field (``..._in1k-160px.py`` -> ``ImageNet-1k``)."""
    field = osp.splitext(osp.basename(config))[0].rsplit('_', 1)[-1]
    keys = [k for k in DATA_TAGS if field == k or field.startswith(k + '-')]
    if not keys:
        raise ModelZooError(f'{config}: unknown data field {field!r}; add it to DATA_TAGS in {TOOL}')
    return DATA_TAGS[max(keys, key=len)]


def training_techniques(cfg) -> List[str]:
    """Optimiser, fp16 and the lr schedule's parts, in mmpretrain's metafile vocabulary where it has one."""
    wrapper = cfg.get('optim_wrapper', {})
    optimizer = wrapper.get('optimizer', {}).get('type', '')
    techniques = [OPTIMIZERS.get(optimizer, optimizer)] if optimizer else []
    if wrapper.get('type') == 'AmpOptimWrapper':
        techniques.append('Mixed Precision Training')
    schedulers = cfg.get('param_scheduler', [])
    for sched in schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]:
        name = SCHEDULERS.get(sched.get('type'), sched.get('type'))
        if name and name not in techniques:
            techniques.append(name)
    return techniques


def training_resources(cfg, gpus: int) -> str:
    """``16x GPUs``, or ``1 CPU process`` for configs meant for CPU (gloo backend)."""
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'nccl')
    if backend == 'gloo':
        return f'{gpus} CPU process' + ('es' if gpus > 1 else '')
    return f'{gpus}x GPUs'


def view_size(cfg, config: str) -> int:
    """The largest square crop side in the training pipeline (``size=`` or ``scale=`` of an int)."""
    sizes = []

    def walk(node):
        if isinstance(node, dict):
            for key in ('size', 'scale'):
                if isinstance(node.get(key), int) and 'type' in node:
                    sizes.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg.train_dataloader.dataset.get('pipeline', []))
    if not sizes:
        raise ModelZooError(f'{config}: no square crop size (an int `size=` or `scale=`) in the training pipeline')
    return max(sizes)


def architecture(cfg) -> List[str]:
    """A downstream model's parts, e.g. ``['FasterRCNN', 'FPN', 'ResNet']``."""
    model = cfg.model
    parts = [model.type]
    for key in ('neck', 'decode_head', 'backbone'):
        part = model.get(key)
        if isinstance(part, dict) and part.get('type'):
            parts.append(part.type)
    return parts


def flops_and_params(root: str, config: str, size: int) -> Tuple[int, int]:
    """Backbone forward multiply-adds on one ``size`` x ``size`` view, and all model parameters."""
    import torch
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis'))
    import get_flops  # tools/analysis/get_flops.py: the model as the Runner builds it, fvcore's counter

    model = get_flops.build_model(osp.join(root, config))
    with torch.no_grad():
        backbone = get_flops.count(model.backbone, torch.randn(1, 3, size, size))
    return backbone['flops'], sum(p.numel() for p in model.parameters())


def computed_metadata(root: str, config: str, flops: bool = True) -> Dict[str, object]:
    """The computed ``Metadata`` of one config (``FLOPs``/``Parameters`` only with ``flops`` and pretraining)."""
    from mmengine.config import Config

    import mmlc  # noqa: F401  (configs with custom_imports; the mmlc:: scope)

    cfg = Config.fromfile(osp.join(root, config))
    gpus, batch = gpus_and_batch(config)
    if batch != cfg.train_dataloader.batch_size:
        raise ModelZooError(f'{config}: the name says batch {batch}, the config {cfg.train_dataloader.batch_size}')
    meta = {
        'Training Data': training_data(config),
        'Training Techniques': training_techniques(cfg),
        'Training Resources': training_resources(cfg, gpus)
    }
    if is_downstream(config):
        meta['Architecture'] = architecture(cfg)
    loop = cfg.train_cfg
    if 'max_epochs' in loop:
        meta['Epochs'] = int(loop.max_epochs)
    else:
        meta['Iterations'] = int(loop.max_iters)
    meta['Batch Size'] = gpus * batch
    if flops and not is_downstream(config):
        meta['FLOPs'], meta['Parameters'] = flops_and_params(root, config, view_size(cfg, config))
    return meta


# ------------------------------------------------------------------------------------------------ metafiles
def pick_collection(collections: Sequence[dict], config: str, metafile: str) -> str:
    """The only collection, or the one whose lower-cased name is the longest prefix of the algorithm field."""
    names = [c['Name'] for c in collections]
    if len(names) == 1:
        return names[0]
    algorithm = osp.basename(config).split('_', 1)[0]
    matches = [n for n in names if algorithm == n.lower() or algorithm.startswith(n.lower() + '-')]
    if not matches:
        raise ModelZooError(f'{config}: no collection of {metafile} ({", ".join(names) or "none"}) matches its '
                            f'algorithm {algorithm!r}; add a Collections entry (Name, Paper: Title/URL, Metadata) '
                            'or set its In Collection by hand')
    return max(matches, key=len)


def _first(d: dict, keys: Sequence[str]) -> dict:
    """``d`` with ``keys`` (those present) first, in that order."""
    return {**{k: d[k] for k in keys if k in d}, **{k: v for k, v in d.items() if k not in keys}}


def ordered_entry(entry: dict) -> dict:
    """An entry's keys in mmpretrain's order, computed Metadata keys first."""
    return _first({**entry, 'Metadata': _first(entry.get('Metadata', {}), COMPUTED_KEYS)}, ENTRY_ORDER)


def updated_metafile(root: str, folder: str, old: dict, flops: bool = True, log=print) -> dict:
    """``old`` (a metafile's content) with one entry per config of ``configs/<folder>`` and fresh computed fields.

    With ``flops=False`` an entry keeps the FLOPs/Parameters it has; one without them (a new one) is counted.
    """
    path = osp.relpath(metafile_path(root, folder), root)
    collections = old.get('Collections') or []
    if not collections:
        raise ModelZooError(f'{path} has no Collections: write one (Name, Metadata, Paper: Title/URL, README) '
                            'and run the tool again; it fills the Models')
    by_config = {m['Config']: m for m in old.get('Models') or []}
    models = []
    for config in experiment_configs(root, folder):
        entry = copy.deepcopy(by_config.pop(config, None))
        if entry is None:
            log(f'{path}: new entry for {config}')
            entry = {
                'Name': entry_name(config),
                'Metadata': {},
                'In Collection': pick_collection(collections, config, path),
                'Results': None,
                'Weights': None,
                'Config': config
            }
        meta = entry.setdefault('Metadata', {})
        count = not is_downstream(config) and (flops or 'FLOPs' not in meta or 'Parameters' not in meta)
        kept = {} if count else {k: meta[k] for k in ('FLOPs', 'Parameters') if k in meta}
        for key in COMPUTED_KEYS:
            meta.pop(key, None)
        meta.update(computed_metadata(root, config, flops=count))
        meta.update(kept)
        models.append(ordered_entry(entry))
    for config in by_config:
        log(f'{path}: dropped the entry of {config} (no such config)')
    return {'Collections': collections, 'Models': models}


def model_index(root: str) -> dict:
    """model-index.yml: the metafile of every config folder (mmengine and mim read it from mmlc/.mim)."""
    return {'Import': [f'configs/{folder}/metafile.yml' for folder in config_folders(root)]}


def load_metafiles(root: str) -> Dict[str, dict]:
    """Every metafile listed in model-index.yml, by repository-relative path."""
    index = load_yaml(osp.join(root, 'model-index.yml'))
    return {path: load_yaml(osp.join(root, path)) for path in index.get('Import', [])}


def coverage_problems(root: str) -> List[str]:
    """What disagrees between configs, metafiles and model-index.yml, one message per problem (no config loads)."""
    problems = []
    index_path = osp.join(root, 'model-index.yml')
    listed = load_yaml(index_path).get('Import', []) if osp.exists(index_path) else []
    expected = model_index(root)['Import']
    for path in expected:
        if path not in listed:
            problems.append(f'model-index.yml does not import {path}')
    for path in listed:
        if path not in expected:
            problems.append(f'model-index.yml imports {path}, which has no configs beside it')
    for folder in config_folders(root):
        path = osp.relpath(metafile_path(root, folder), root)
        entries = (
            load_yaml(metafile_path(root, folder)).get('Models') or []
            if osp.exists(metafile_path(root, folder)) else [])
        documented = {m.get('Config') for m in entries}
        for config in experiment_configs(root, folder):
            if config not in documented:
                problems.append(f'{config} has no entry in {path}')
        for config in sorted(documented - set(experiment_configs(root, folder)), key=str):
            problems.append(f'{path} has an entry for {config}, which does not exist')
    return problems


# ------------------------------------------------------------------------------------------------- tables
def _fmt_flops(flops: Optional[int]) -> str:
    return '—' if flops is None else f'{flops / 1e9:.2f}'


def _fmt_params(params: Optional[int]) -> str:
    return '—' if params is None else f'{params / 1e6:.1f}'


def _schedule(meta: dict) -> str:
    return f'{meta["Epochs"]} e' if 'Epochs' in meta else f'{meta["Iterations"]} i'


def _weights(entry: dict) -> str:
    return f'[ckpt]({entry["Weights"]})' if entry.get('Weights') else '—'


def _link(config: str, prefix: str) -> str:
    return f'[{osp.basename(config)}]({prefix}{config})'


def pretraining_table(metafiles: Dict[str, dict], prefix: str = '') -> str:
    """Markdown table of the pretraining entries; ``prefix`` makes config links relative to the page."""
    rows = [
        '| config | collection | data | schedule | batch | resources | GFLOPs | params (M) | weights |',
        '|---|---|---|---|---|---|---|---|---|'
    ]
    for meta_path, data in metafiles.items():
        for entry in data.get('Models') or []:
            if is_downstream(entry['Config']):
                continue
            m = entry['Metadata']
            rows.append(f'| {_link(entry["Config"], prefix)} | {entry["In Collection"]} | {m["Training Data"]} | '
                        f'{_schedule(m)} | {m["Batch Size"]} | {m["Training Resources"]} | '
                        f'{_fmt_flops(m.get("FLOPs"))} | {_fmt_params(m.get("Parameters"))} | {_weights(entry)} |')
    return '\n'.join(rows)


def _spread(values: Sequence[int], fmt) -> str:
    """'a' or 'a–b' for the smallest and largest of ``values`` as ``fmt`` writes them; '—' for none."""
    if not values:
        return '—'
    low, high = fmt(min(values)), fmt(max(values))
    return low if low == high else f'{low}–{high}'


def collections_table(metafiles: Dict[str, dict], prefix: str = '') -> str:
    """Markdown table with one row per collection of pretraining configs (the README's short view)."""
    rows = [
        '| collection | paper | configs | data | GFLOPs per view | params (M) | weights |',
        '|---|---|---|---|---|---|---|',
    ]
    for meta_path, data in metafiles.items():
        for collection in data.get('Collections') or []:
            entries = [
                e for e in data.get('Models') or []
                if e.get('In Collection') == collection['Name'] and not is_downstream(e['Config'])
            ]
            if not entries:
                continue
            paper = collection.get('Paper') or {}
            folder = osp.dirname(entries[0]['Config'])
            flops = [e['Metadata']['FLOPs'] for e in entries if e['Metadata'].get('FLOPs')]
            params = [e['Metadata']['Parameters'] for e in entries if e['Metadata'].get('Parameters')]
            weights = sum(bool(e.get('Weights')) for e in entries)
            rows.append(f'| {collection["Name"]} | [{paper.get("Title")}]({paper.get("URL")}) | '
                        f'[{len(entries)} in `{folder}/`]({prefix}{folder}) | '
                        f'{", ".join(sorted({e["Metadata"]["Training Data"] for e in entries}))} | '
                        f'{_spread(flops, _fmt_flops)} | {_spread(params, _fmt_params)} | '
                        f'{weights or "none yet"} |')
    return '\n'.join(rows)


def downstream_table(metafiles: Dict[str, dict], prefix: str = '') -> str:
    """Markdown table of the downstream entries, with the pretraining entries that list each one."""
    used_by: Dict[str, List[str]] = {}
    for data in metafiles.values():
        for entry in data.get('Models') or []:
            for name in entry.get('Downstream') or []:
                used_by.setdefault(name, []).append(entry['Name'])
    rows = [
        '| config | model | data | schedule | batch | pretraining entries that list it |', '|---|---|---|---|---|---|'
    ]
    for data in metafiles.values():
        for entry in data.get('Models') or []:
            if not is_downstream(entry['Config']):
                continue
            m = entry['Metadata']
            rows.append(f'| {_link(entry["Config"], prefix)} | {" + ".join(m["Architecture"])} | '
                        f'{m["Training Data"]} | {_schedule(m)} | {m["Batch Size"]} | '
                        f'{", ".join(used_by.get(entry["Name"], [])) or "—"} |')
    return '\n'.join(rows)


DEFINITIONS = ('GFLOPs: forward multiply-adds of the backbone on one square training view of the config\'s crop '
               'size (`tools/analysis/get_flops.py`\'s counter, as in mmpretrain\'s metafiles); params: every '
               'parameter of the model, EMA target included. Batch: total over all GPUs (or CPU processes). '
               'No checkpoints are published yet (`Weights: null`).')


def as_mdformat(markdown: str) -> str:
    """``markdown`` as the lint's mdformat hook writes it (.pre-commit-config.yaml: aligned tables, numbered
    lists), so that the generated files pass the lint unchanged."""
    import mdformat
    return mdformat.text(markdown, extensions={'openmmlab'}, options={'number': True})


def readme_block(metafiles: Dict[str, dict]) -> str:
    """The README's model-zoo block, markers included."""
    body = as_mdformat(f'Generated from `configs/*/metafile.yml` by `{TOOL}`; every config with its schedule, '
                       f'batch, FLOPs and parameters, and the downstream configs, are in '
                       f'[docs/model_zoo.md](docs/model_zoo.md). {DEFINITIONS}\n\n'
                       f'{collections_table(metafiles)}\n')
    return '\n\n'.join([README_START, body.strip('\n'), README_END])  # blank lines around, as mdformat keeps it


def zoo_doc(metafiles: Dict[str, dict]) -> str:
    """docs/model_zoo.md, whole."""
    collections = []
    for meta_path, data in metafiles.items():
        for c in data.get('Collections') or []:
            paper = c.get('Paper') or {}
            collections.append(f'- **{c["Name"]}** (`{meta_path}`): [{paper.get("Title")}]({paper.get("URL")})')
    return as_mdformat('\n'.join([
        '# Model zoo', '', f'<!-- Generated by {TOOL} from the metafiles; edit those (or the tool) and re-run it. -->',
        '', f'Every config has an entry in its folder\'s `metafile.yml` (OpenMMLab\'s format, listed by '
        f'`model-index.yml`; `mim` and mmengine read them from the installed package). {DEFINITIONS}', '',
        '## Collections', '', *collections, '', '## Pretraining', '',
        pretraining_table(metafiles, prefix='../'), '', '## Downstream benchmarks', '',
        'Fine-tuning protocols of the paper\'s Tables 1–4 (and beyond), for any pretraining checkpoint: see '
        '[downstream.md](downstream.md).', '',
        downstream_table(metafiles, prefix='../'), ''
    ]))


def replace_block(text: str, block: str) -> str:
    """``text`` with its model-zoo block (markers included) replaced by ``block``."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ModelZooError(f'README.md has no {README_START} ... {README_END} block')
    return text[:start] + block + text[end + len(README_END):]


# --------------------------------------------------------------------------------------------------- main
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Update metafiles, model-index.yml and the model-zoo tables')
    parser.add_argument('--root', default=REPO_ROOT, help='repository root (default: this checkout)')
    parser.add_argument('--check', action='store_true', help='write nothing; exit 1 if anything is out of date')
    parser.add_argument(
        '--skip-flops',
        action='store_true',
        help='keep FLOPs/Parameters already in the metafiles (new entries are still counted)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    root = args.root
    outputs: Dict[str, str] = {}  # repository-relative path -> new content
    metafiles: Dict[str, dict] = {}
    for folder in config_folders(root):
        path = metafile_path(root, folder)
        old = load_yaml(path) if osp.exists(path) else {}
        new = updated_metafile(root, folder, old, flops=not args.skip_flops)
        rel = osp.relpath(path, root).replace(os.sep, '/')
        metafiles[rel] = new
        outputs[rel] = dump_yaml(new)
    outputs['model-index.yml'] = dump_yaml(model_index(root))
    with open(osp.join(root, 'README.md'), encoding='utf-8') as f:
        outputs['README.md'] = replace_block(f.read(), readme_block(metafiles))
    outputs[ZOO_DOC] = zoo_doc(metafiles)

    stale = []
    for rel, content in outputs.items():
        path = osp.join(root, rel)
        current = open(path, encoding='utf-8').read() if osp.exists(path) else None
        if current != content:
            stale.append(rel)
            if not args.check:
                with open(path, 'w', encoding='utf-8') as f:
                    f.write(content)
    verb = 'out of date' if args.check else 'written'
    print('\n'.join(f'{verb}: {rel}' for rel in stale) or 'model zoo up to date')
    return 1 if args.check and stale else 0


if __name__ == '__main__':
    sys.exit(main())

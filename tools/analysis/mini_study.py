# Copyright (c) mmlc contributors. All rights reserved.
"""Mini study: pretrain several configs on a sample of your images with the same seed, data and budget, then
compare their dense features on held-out images (run it before a cluster job).

    python tools/analysis/mini_study.py [--data DIR] [--held-out DIR_OR_N] [--runs NAME ...] [--alphas A ...]
        [--config NAME=PATH ...] [--seeds 0 1 2] [--iters N] [--size PX] [--work-dir work_dirs/mini_study]
        [--cfg-options KEY=VALUE ...] [--force]

Runs (each a config plus a few overrides, trained by ``tools/train.py`` in a subprocess):

- ``byol``: mmpretrain's BYOL at the demo's scale with its own two random-resized-crop views;
- ``byol-lcviews``: the demo's BYOL + LC config with ``model.alpha=0`` (BYOL's loss alone, on LC's views I_c and
  I_sc: it separates the effect of the views from that of the local loss);
- ``byol-lc``: the demo config as it is; ``--alphas 0.3 0.7`` adds ``byol-lc-alpha0.3`` ...;
- on request (``--runs``): ``local-mse``, ``sym``, ``multilevel``, ``densecl``, ``byol-lc-alpha<A>``; any config
  with ``--config NAME=PATH``;
- MoCo v3 on a tiny ViT, the same three arms (``--runs``): ``mocov3`` (mmpretrain's MoCo v3, its own views),
  ``mocov3-lcviews`` (the MoCo v3 + LC demo at ``alpha=0``), ``mocov3-lc``; pass ``--size 96`` for the 6 x 6 patch
  map their demo trains on (the default size is the BYOL demo's);
- DINO on a tiny ViT, likewise (``--runs``): ``dino`` (mmlc's DINO demo, its own two global + four local crops),
  ``dino-lcviews`` (the DINO + LC demo at ``alpha=0``: DINO's loss on I_c, I_sc and the same local crops),
  ``dino-lc``.

Every run gets the same training images, seed, iterations (learning-rate schedule rescaled), view size and
held-out correspondence hook (see :func:`mmlc.analysis.study_overrides`), written as a config delta
``<run dir>/study/<run>.py``. Each final checkpoint is scored on the held-out images (flip and crop
correspondence accuracy of the backbone and of the local projection, same-position rate, per-image spread);
``<work-dir>/results.md`` / ``results.json`` hold the table, ``heldout_accuracy.png`` the held-out accuracy over
iterations and ``correspondence_maps.png`` each run's matches on a few held-out images. See docs/mini_study.md.
"""

import argparse
import hashlib
import json
import math
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)  # a checkout without install

from mmengine.config import Config, DictAction

from mmlc.analysis import (aggregate_curves, build_feature_extractor, default_held_out_count, describe_views,
                           evaluate_pairs, find_view_size, format_mean_std, list_images, load_image, mean_std,
                           prepare_pairs, read_jsonl, render_delta_config, render_markdown_table, split_held_out,
                           study_overrides, summarise)
from mmlc.analysis.mini_study import PAIR_SEED, STUDY_HOOK_NAME
from mmlc.datasets import DEMO_HELD_OUT_PHOTOS, DEMO_TRAIN_PHOTOS, bundled_photo_path

#: The CPU demo's config, repository-relative: the one place to update when the demo is renamed or re-tuned.
#: Every default run is a delta on it, and the configs of its family (``byol_…``, ``byol-lc-multilevel_…``,
#: ``densecl_…``) are found by replacing the algorithm field of its name.
DEMO_CONFIG = 'configs/byol_lc/byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py'

DEFAULT_RUNS = ('byol', 'byol-lcviews', 'byol-lc')
OPTIONAL_RUNS = ('local-mse', 'sym', 'multilevel', 'densecl', 'ic-solarize', 'local-relu', 'local-norelu', 'mocov3',
                 'mocov3-lcviews', 'mocov3-lc', 'dino', 'dino-lcviews', 'dino-lc')
#: The MoCo v3 + LC demo (tiny ViT) and its plain MoCo v3 twin, the configs of the ``mocov3*`` runs.
MOCOV3_LC_CONFIG = 'configs/mocov3_lc/mocov3-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'
MOCOV3_CONFIG = 'configs/mocov3_lc/mocov3_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'
#: The DINO + LC demo (tiny ViT) and the DINO demo it is a delta on, the configs of the ``dino*`` runs.
DINO_LC_CONFIG = 'configs/dino_lc/dino-lc_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'
DINO_CONFIG = 'configs/dino/dino_vit-tiny-p16_1xb8-coslr-300i_bundled-photos.py'
MODES = ('flip', 'crop')


def demo_variant(algorithm: str, folder: Optional[str] = None) -> str:
    """The demo config's name with its algorithm field replaced (``byol-lc_X`` -> ``<algorithm>_X``), in the
    demo's folder or ``folder``; repository-relative."""
    head, name = osp.split(DEMO_CONFIG)
    return osp.join(folder or head, algorithm + name[name.index('_'):])


@dataclass
class Run:
    """One arm of the study: a config, the model options that make it this arm, and a one-line description."""

    name: str
    config: str
    model: Dict[str, Any] = field(default_factory=dict)
    about: str = ''
    views: Dict[str, Any] = field(default_factory=dict)  # PairedCorrespondenceTransform options

    @property
    def config_path(self) -> str:
        return self.config if osp.isabs(self.config) else osp.join(REPO_ROOT, self.config)


def named_run(name: str) -> Run:
    """A built-in run by name (:data:`DEFAULT_RUNS`, :data:`OPTIONAL_RUNS` or ``byol-lc-alpha<A>``)."""
    if name == 'byol':
        return Run(name, demo_variant('byol'), {}, "mmpretrain's BYOL, its own two random-resized-crop views")
    if name == 'byol-lcviews':
        return Run(name, DEMO_CONFIG, dict(alpha=0.), "demo BYOL+LC config with alpha=0: BYOL's loss on I_c, I_sc")
    if name == 'byol-lc':
        return Run(name, DEMO_CONFIG, {}, 'the demo config as it is (its own alpha)')
    if name.startswith('byol-lc-alpha'):
        try:
            alpha = float(name[len('byol-lc-alpha'):])
        except ValueError:
            raise SystemExit(f'bad run name {name!r}: expected byol-lc-alpha<number>') from None
        return Run(name, DEMO_CONFIG, dict(alpha=alpha), f'the demo config with alpha={alpha:g}')
    # The paper's readings (README, "Differences from the paper"): each as a run, so that the study measures them.
    if name == 'ic-solarize':
        return Run(
            name,
            DEMO_CONFIG, {},
            "I_c with solarisation (p=0.2), as §3's list of I_c's transforms reads",
            views=dict(c_pipeline='byol-view1-solarize'))
    if name in ('local-relu', 'local-norelu'):
        relu = name == 'local-relu'
        return Run(
            name, DEMO_CONFIG, dict(local_neck=dict(with_relu=relu)),
            'local projection conv-BN-ReLU-conv' if relu else 'local projection conv-BN-conv (§4.1 read literally)')
    if name == 'local-mse':
        return Run(name, DEMO_CONFIG, dict(local_head=dict(loss_type='mse')), 'local MSE loss instead of LC')
    if name == 'sym':
        return Run(name, DEMO_CONFIG, dict(symmetric=True), 'symmetric LC-loss')
    if name == 'multilevel':
        return Run(name, demo_variant('byol-lc-multilevel'), {}, 'LC-loss on the last three stages')
    if name == 'densecl':
        return Run(name, demo_variant('densecl', 'configs/densecl'), {}, "mmpretrain's DenseCL at the demo's scale")
    if name == 'mocov3':
        return Run(name, MOCOV3_CONFIG, {}, "mmpretrain's MoCo v3 (tiny ViT), its own two random-resized-crop views")
    if name == 'mocov3-lcviews':
        return Run(name, MOCOV3_LC_CONFIG, dict(alpha=0.), "MoCo v3 + LC demo, alpha=0: MoCo v3's loss on I_c, I_sc")
    if name == 'mocov3-lc':
        return Run(name, MOCOV3_LC_CONFIG, {}, 'the MoCo v3 + LC demo config as it is (its own alpha)')
    if name == 'dino':
        return Run(name, DINO_CONFIG, {}, "mmlc's DINO (tiny ViT), its own two global and four local crops")
    if name == 'dino-lcviews':
        return Run(name, DINO_LC_CONFIG, dict(alpha=0.),
                   "DINO + LC demo, alpha=0: DINO's loss on I_c, I_sc and the local crops")
    if name == 'dino-lc':
        return Run(name, DINO_LC_CONFIG, {}, 'the DINO + LC demo config as it is (its own alpha)')
    raise SystemExit(f'unknown run {name!r}; built-in: {", ".join(DEFAULT_RUNS + OPTIONAL_RUNS)}, '
                     'byol-lc-alpha<A>; or --config NAME=PATH')


def alpha_run_name(alpha: float) -> str:
    return f'byol-lc-alpha{alpha:g}'


def resolve_runs(names: Sequence[str], alphas: Sequence[float], configs: Sequence[str]) -> List[Run]:
    runs = [named_run(n) for n in names] + [named_run(alpha_run_name(a)) for a in alphas]
    for spec in configs:
        name, sep, path = spec.partition('=')
        if not sep or not name or not path:
            raise SystemExit(f'--config takes NAME=PATH, got {spec!r}')
        runs.append(Run(name, osp.abspath(path), {}, f'--config {path}'))
    seen = set()
    for run in runs:
        if run.name in seen:
            raise SystemExit(f'run {run.name!r} is requested twice')
        if not osp.isfile(run.config_path):
            hint = ' (mmlc ships no DenseCL config yet: see docs/mini_study.md)' if run.name == 'densecl' else ''
            raise SystemExit(f'run {run.name!r}: config {run.config} not found{hint}')
        seen.add(run.name)
    return runs


# --- data ------------------------------------------------------------------------------------------------------


@dataclass
class DataSplit:
    """Training and held-out images: names inside a root directory, or bundled photo keys when the root is None."""

    train_root: Optional[str]
    train: List[str]
    held_root: Optional[str]
    held: List[str]
    how: str

    def held_paths(self) -> List[str]:
        if self.held_root is None:
            return [bundled_photo_path(n) for n in self.held]
        return [osp.join(self.held_root, n) for n in self.held]


def _relative_images(root: str) -> List[str]:
    return [osp.relpath(p, root) for p in list_images(root)]


def resolve_data(data: Optional[str], held_out: Optional[str], split_seed: int) -> DataSplit:
    """The study's split (see ``--data`` / ``--held-out``)."""
    held_dir = held_out if held_out is not None and osp.isdir(held_out) else None
    count = None
    if held_out is not None and held_dir is None:
        try:
            count = int(held_out)
        except ValueError:
            raise SystemExit(f'--held-out takes a directory or a number of images, got {held_out!r}') from None
    if data is None:
        if count is not None:
            raise SystemExit('--held-out N splits the images of --data DIR; the bundled photos come with their '
                             'own held-out set (or give --held-out DIR)')
        if held_dir is None:
            return DataSplit(None, list(DEMO_TRAIN_PHOTOS), None, list(DEMO_HELD_OUT_PHOTOS),
                             'bundled photos (mmlc.datasets.DEMO_TRAIN_PHOTOS / DEMO_HELD_OUT_PHOTOS)')
        held_dir = osp.abspath(held_dir)
        return DataSplit(None, list(DEMO_TRAIN_PHOTOS), held_dir, _relative_images(held_dir),
                         f'bundled training photos; held out: every image under {held_dir}')
    root = osp.abspath(data)
    names = _relative_images(root)
    if held_dir is not None:
        held_dir = osp.abspath(held_dir)
        held = _relative_images(held_dir)
        held_real = {osp.realpath(osp.join(held_dir, n)) for n in held}
        train = [n for n in names if osp.realpath(osp.join(root, n)) not in held_real]
        if not train:
            raise SystemExit(f'no training images left under {root} once {held_dir} is held out')
        return DataSplit(root, train, held_dir, held, f'every image under {root}; held out: every image under '
                         f'{held_dir} ({len(held)})')
    n_held = default_held_out_count(len(names)) if count is None else count
    train, held = split_held_out(names, n_held, split_seed)
    return DataSplit(root, train, root, held, f'every image under {root}, {len(held)} held out by a split '
                     f'seeded {split_seed}')


# --- one run ---------------------------------------------------------------------------------------------------


def parse_cfg_options(options: Sequence[str]) -> Dict[str, Any]:
    """``KEY=VALUE`` strings as ``tools/train.py`` reads them (mmengine's ``DictAction``)."""
    out = {}
    for kv in options:
        key, sep, val = kv.partition('=')
        if not sep:
            raise SystemExit(f'--cfg-options takes KEY=VALUE, got {kv!r}')
        out[key] = DictAction._parse_iterable(val)
    return out


def _json_safe(obj: Any) -> Any:
    """NaN -> None (JSON has no NaN), recursively."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _write_json(path: str, obj: Any) -> None:
    with open(path, 'w') as f:
        json.dump(_json_safe(obj), f, indent=1)


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


class Study:
    """Settings shared by every run, and what is done per (run, seed)."""

    def __init__(self, args: argparse.Namespace, split: DataSplit, iters: int, size: int) -> None:
        self.args = args
        self.split = split
        self.iters = iters
        self.size = size
        self.work_dir = osp.abspath(args.work_dir)
        self.user_options = parse_cfg_options(args.cfg_options)

    def run_dir(self, run: Run, seed: int) -> str:
        return osp.join(self.work_dir, run.name, f'seed{seed}')

    def prepare(self, run: Run, seed: int) -> Tuple[str, Config]:
        """Write the run's config delta; return its path and the config ``tools/train.py`` will train."""
        run_dir = self.run_dir(run, seed)
        base = Config.fromfile(run.config_path)
        try:
            overrides = study_overrides(
                base,
                iters=self.iters,
                size=self.size,
                seed=seed,
                train_root=self.split.train_root,
                train_names=self.split.train,
                held_root=self.split.held_root,
                held_names=self.split.held,
                eval_interval=self.args.eval_interval)
        except (KeyError, ValueError) as e:
            raise SystemExit(f'run {run.name!r} ({run.config}): {e}') from None
        if run.model:
            overrides = dict(model=run.model, **overrides)
        if run.views:
            pipeline = overrides['train_dataloader']['dataset']['pipeline']
            paired = [t for t in pipeline if t.get('type') == 'PairedCorrespondenceTransform']
            if not paired:
                raise SystemExit(f'run {run.name!r} sets view options but {run.config} has no '
                                 'PairedCorrespondenceTransform')
            for t in paired:
                t.update(run.views)
        # Not in the run dir itself: the Runner dumps the full config there under the same file name.
        delta = osp.join(run_dir, 'study', f'{run.name}.py')
        os.makedirs(osp.dirname(delta), exist_ok=True)
        text = render_delta_config(
            run.config_path,
            overrides,
            comment=f'Mini study run {run.name!r}, seed {seed}: written by '
            f'tools/analysis/mini_study.py ({run.about}).')
        with open(delta, 'w') as f:
            f.write(text)
        cfg = Config.fromfile(delta)
        if self.user_options:
            cfg.merge_from_dict(self.user_options)
        return delta, cfg

    def train_command(self, delta: str, run_dir: str) -> List[str]:
        cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), delta, '--work-dir', run_dir]
        if self.args.cfg_options:
            cmd += ['--cfg-options', *self.args.cfg_options]
        return cmd

    def train(self, cmd: List[str], run_dir: str) -> Tuple[int, float, str]:
        """Run ``tools/train.py``; (exit code, wall seconds, log path)."""
        for name in os.listdir(run_dir):  # a fresh run: no stale checkpoints or hook lines of earlier settings
            if (name.startswith('iter_')
                    and name.endswith('.pth')) or name in (f'{STUDY_HOOK_NAME}.jsonl', 'metrics.json', 'train.json',
                                                           'last_checkpoint'):
                os.remove(osp.join(run_dir, name))
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO_ROOT, env.get('PYTHONPATH')) if p)
        log = osp.join(run_dir, 'train.log')
        start = time.time()
        with open(log, 'w') as f:
            f.write(shlex.join(cmd) + '\n\n')
            f.flush()
            code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        return code, time.time() - start, log

    def evaluate(self, ckpt: str, cfg: Config, map_dir: Optional[str]) -> Dict[str, Any]:
        """Held-out scores of a checkpoint: {part: {mode: summary}}, parts ``backbone`` and (when the model has
        one) ``local``; flip-pair maps of the backbone for the first ``--map-images`` images into ``map_dir``."""
        names = self.split.held
        images = [load_image(p) for p in self.split.held_paths()]
        pairs = {mode: prepare_pairs(images, mode=mode, size=self.size, seed=PAIR_SEED, names=names) for mode in MODES}
        parts = ['backbone'] + (['local'] if cfg.model.get('local_neck') else [])
        out: Dict[str, Any] = {}
        for part in parts:
            extractor = build_feature_extractor(ckpt, cfg, use_local_neck=part == 'local')
            out[part] = {}
            for mode in MODES:
                draw = map_dir is not None and part == 'backbone' and mode == 'flip'
                # One batch of all pairs, as the hook scores them, so its last line is reproduced exactly.
                results = evaluate_pairs(extractor, pairs[mode], batch_size=len(pairs[mode]))
                h, w = results[0].feat_size1
                out[part][mode] = dict(
                    summarise(results),
                    map=f'{h}x{w}',
                    chance=1. / (h * w),
                    per_image={r.name: r.accuracy
                               for r in results})
                if draw:
                    self.draw_maps(pairs[mode], results, map_dir)
        return out

    def draw_maps(self, pairs, results, map_dir: str) -> None:
        from mmlc.analysis.visualize import draw_correspondence
        os.makedirs(map_dir, exist_ok=True)
        for i, (pair, result) in enumerate(list(zip(pairs, results))[:self.args.map_images]):
            draw_correspondence(pair, result, osp.join(map_dir, f'{i:02d}.png'), view_px=self.args.map_px)

    def do(self, run: Run, seed: int, delta: str, cfg: Config, progress: 'Progress') -> Dict[str, Any]:
        """Train (unless a finished run with the same resolved config exists) and score one prepared (run, seed)."""
        label = f'{run.name} seed {seed}'
        run_dir = self.run_dir(run, seed)
        info = dict(
            run=run.name,
            seed=seed,
            views=describe_views(cfg.train_dataloader.dataset.pipeline),
            batch_size=int(cfg.train_dataloader.batch_size),
            model_type=cfg.model.type)
        # What would be trained, so a finished run is reused only for the same config (data, seed, budget, ...).
        signature = hashlib.sha1(json.dumps(cfg.to_dict(), sort_keys=True, default=repr).encode()).hexdigest()
        ckpt = osp.join(run_dir, f'iter_{self.iters}.pth')
        metrics_path, train_path = osp.join(run_dir, 'metrics.json'), osp.join(run_dir, 'train.json')
        cmd = self.train_command(delta, run_dir)
        fresh = self.args.force or not osp.isfile(ckpt)
        metrics = None if fresh else _read_json(metrics_path)
        if metrics is not None and metrics.get('signature') == signature:
            progress.step(label, f'done before ({metrics["wall_time_s"]:.0f} s), not redone')
            return metrics
        trained = None if fresh else _read_json(train_path)
        if trained is None or trained.get('signature') != signature:
            if not fresh:
                progress.note(label, 'settings changed since the saved run: training again')
            progress.note(label, 'training ...')
            code, wall, log = self.train(cmd, run_dir)
            if code != 0 or not osp.isfile(ckpt):
                progress.step(label, f'FAILED (exit code {code}); log: {log}')
                print(_tail(log), file=sys.stderr, flush=True)
                return dict(info, failed=True, log=log, exit_code=code)
            trained = dict(signature=signature, wall_time_s=wall, command=shlex.join(cmd))
            _write_json(train_path, trained)
        start = time.time()
        final = self.evaluate(ckpt, cfg, osp.join(run_dir, 'maps') if seed == self.args.seeds[0] else None)
        curve = []
        jsonl = osp.join(run_dir, f'{STUDY_HOOK_NAME}.jsonl')
        if osp.isfile(jsonl):
            curve = [{
                k: r.get(k)
                for k in ('iter', 'acc', 'same_pos', 'local_acc', 'local_same_pos')
            } for r in read_jsonl(jsonl)]
        metrics = dict(
            info,
            config=run.config,
            model_options=run.model,
            view_options=run.views,
            about=run.about,
            signature=signature,
            command=trained['command'],
            delta_config=delta,
            checkpoint=ckpt,
            iters=self.iters,
            size=self.size,
            wall_time_s=trained['wall_time_s'],
            eval_time_s=time.time() - start,
            final=final,
            iter0=curve[0] if curve and curve[0]['iter'] == 0 else None,
            curve=curve)
        _write_json(metrics_path, metrics)
        acc = final['backbone']['flip']['accuracy']
        progress.step(label, f'trained in {trained["wall_time_s"]:.0f} s, held-out flip accuracy {acc:.3f}')
        return _json_safe(metrics)


class Progress:
    """A text progress bar over the (run, seed) jobs, one line per status change (log-friendly)."""

    def __init__(self, total: int, width: int = 20) -> None:
        self.total, self.done, self.width = total, 0, width

    def _bar(self) -> str:
        filled = int(round(self.width * self.done / max(1, self.total)))
        return f'[{"#" * filled}{"." * (self.width - filled)}] {self.done}/{self.total}'

    def note(self, label: str, status: str) -> None:
        print(f'{self._bar()} {label}: {status}', flush=True)

    def step(self, label: str, status: str) -> None:
        self.done += 1
        self.note(label, status)


# --- results ---------------------------------------------------------------------------------------------------


def _get(metrics: dict, *keys: str) -> Optional[float]:
    for key in keys:
        if not isinstance(metrics, dict) or metrics.get(key) is None:
            return None
        metrics = metrics[key]
    return metrics


#: Summary metric -> path inside a run's metrics.json.
METRICS = {
    'flip': ('final', 'backbone', 'flip', 'accuracy'),
    'flip_same_pos': ('final', 'backbone', 'flip', 'same_position_rate'),
    'flip_image_std': ('final', 'backbone', 'flip', 'image_std'),
    'flip_image_min': ('final', 'backbone', 'flip', 'image_min'),
    'flip_image_max': ('final', 'backbone', 'flip', 'image_max'),
    'crop': ('final', 'backbone', 'crop', 'accuracy'),
    'crop_same_pos': ('final', 'backbone', 'crop', 'same_position_rate'),
    'local_flip': ('final', 'local', 'flip', 'accuracy'),
    'local_flip_same_pos': ('final', 'local', 'flip', 'same_position_rate'),
    'local_flip_image_std': ('final', 'local', 'flip', 'image_std'),
    'local_crop': ('final', 'local', 'crop', 'accuracy'),
    'flip_iter0': ('iter0', 'acc'),
    'local_flip_iter0': ('iter0', 'local_acc'),
    'wall_time_s': ('wall_time_s', ),
}


def summarise_run(per_seed: List[dict]) -> Dict[str, Any]:
    return {name: mean_std(_get(m, *path) for m in per_seed) for name, path in METRICS.items()}


def study_notes(runs: Dict[str, dict], seeds: Sequence[int]) -> List[str]:
    notes = []
    by_views: Dict[str, List[str]] = {}
    for name, run in runs.items():
        by_views.setdefault(run['views'], []).append(name)
    notes.append('Views: ' + '; '.join(f'{", ".join(names)} train on {views}'
                                       for views, names in by_views.items()) + '.')
    if 'byol' in runs and 'byol-lcviews' in runs:
        notes.append('Confound: byol and byol-lcviews both train with BYOL\'s global loss alone, but on different '
                     'views: byol on two random resized crops, byol-lcviews on the whole image I_c and a crop I_sc '
                     '(the LC pipeline). byol -> byol-lcviews measures the views, byol-lcviews -> byol-lc the local '
                     'loss; byol -> byol-lc mixes both.')
    elif 'byol' in runs and any(r['model_type'] == 'BYOLLocalContrast' for r in runs.values()):
        notes.append('Confound: byol trains on two random resized crops, the LC runs on I_c and I_sc; a difference '
                     'between them mixes the views with the local loss (add the byol-lcviews run to separate them).')
    if 'mocov3' in runs and 'mocov3-lcviews' in runs:
        notes.append('Confound, likewise: mocov3 trains on two random resized crops, mocov3-lcviews on I_c and I_sc; '
                     'mocov3 -> mocov3-lcviews measures the views, mocov3-lcviews -> mocov3-lc the local loss.')
    if 'dino' in runs and 'dino-lcviews' in runs:
        notes.append('Confound, likewise: dino\'s global views are two random resized crops, dino-lcviews\' I_c and '
                     'I_sc (the local crops are the same); dino -> dino-lcviews measures the views, dino-lcviews -> '
                     'dino-lc the local loss.')
    for name in ('byol-lcviews', 'mocov3-lcviews', 'dino-lcviews'):
        if name in runs:
            notes.append(f'{name} has alpha = 0: its local projection gets no gradient, so its local columns score '
                         'a randomly initialised projection of the trained backbone.')
    notes.append(f'Accuracies in %, mean ± std over {len(seeds)} seeds (sample std, n - 1).' if len(seeds) >
                 1 else 'Accuracies in %, one seed (no spread over seeds).')
    notes.append('flip: the paper\'s §4.6 test (each cell of an image against its mirrored view); crop: a '
                 'training-style pair (whole image vs a random resized crop, maybe flipped; cells outside the crop '
                 'not counted). same-pos: cells matched to the cell at their own position, the signature of '
                 'features that encode position rather than content. "@0": the hook\'s measurement before the '
                 'first iteration. Per-image: population std, min and max over the held-out images (mean over '
                 'seeds).')
    maps = {r['map'] for r in runs.values() if r.get('map')}
    for fmap in sorted(maps):
        h, w = (int(v) for v in fmap.split('x'))
        notes.append(f'Chance on the {fmap} map: 1/{h * w} = {100. / (h * w):.1f}%.')
        if w % 2 or w < 6:
            notes.append(f'The {fmap} map is small: below 6 cells wide (or at odd widths) position cues alone score '
                         'well above chance, so compare runs with each other and with their "@0" value, and prefer '
                         'a larger --size.')
    return notes


def results_markdown(results: Dict[str, Any]) -> str:
    header = [
        'run', 'views', 'batch', 'flip', 'same-pos', 'crop', 'local flip', 'local crop', 'flip @0', 'local flip @0',
        'per-image flip std [min, max]', 'train time'
    ]
    rows = []
    for name, run in results['runs'].items():
        s = run['summary']
        if not s['flip']['n']:
            rows.append([name, run['views'], run.get('batch_size', ''), 'failed'] + [''] * (len(header) - 4))
            continue
        spread = f'{format_mean_std(dict(mean=s["flip_image_std"]["mean"]))} '\
                 f'[{format_mean_std(dict(mean=s["flip_image_min"]["mean"]))}, '\
                 f'{format_mean_std(dict(mean=s["flip_image_max"]["mean"]))}]'
        rows.append([
            name, run['views'], run['batch_size'],
            format_mean_std(s['flip']),
            format_mean_std(s['flip_same_pos']),
            format_mean_std(s['crop']),
            format_mean_std(s['local_flip']),
            format_mean_std(s['local_crop']),
            format_mean_std(s['flip_iter0']),
            format_mean_std(s['local_flip_iter0']), spread, f'{s["wall_time_s"]["mean"]:.0f} s'
        ])
    data = results['data']
    lines = [
        '# Mini study: held-out dense correspondence', '',
        f'{len(data["train"])} training images, {len(data["held_out"])} held out ({data["how"]}); '
        f'{results["iters"]} iterations at {results["size"]} px views; seeds {results["seeds"]}.', '',
        render_markdown_table(header, rows), 'Runs:', ''
    ]
    lines += [
        f'- `{name}`: {run["about"]} (`{run["config"]}`' +
        (f', model options {run["model_options"]}' if run['model_options'] else '') +
        (f', view options {run["view_options"]}' if run.get('view_options') else '') + ')'
        for name, run in results['runs'].items()
    ]
    lines += ['', 'Notes:', ''] + [f'- {n}' for n in results['notes']]
    lines += [
        '', f'Command: `{results["command"]}`', '',
        f'Total time: {results["total_time_s"]:.0f} s; the runs\' training took {results["train_time_s"]:.0f} s '
        'in all (runs reused from an earlier invocation included).', ''
    ]
    if results['failed']:
        lines += [
            'Failed: ' + ', '.join(f'{f["run"]} seed {f["seed"]} (log: {f["log"]})' for f in results['failed']), ''
        ]
    return '\n'.join(lines)


def plot_curves(results: Dict[str, Any], path: str) -> None:
    """Held-out flip accuracy over iterations, every run (local projection dashed), mean over seeds with a ±1 std
    band, and the chance line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(8, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    chances = set()
    for i, (name, run) in enumerate(results['runs'].items()):
        curves = [m['curve'] for m in run['seeds'].values() if m.get('curve')]
        if not curves:
            continue
        chances.add(run.get('chance'))
        for key, style, label in (('acc', '-', name), ('local_acc', '--', f'{name} (local)')):
            iters, mean, std = aggregate_curves(curves, key)
            if not iters.size:
                continue
            ax.plot(iters, 100 * mean, style, color=f'C{i % 10}', marker='.', label=label)
            if len(curves) > 1:
                ax.fill_between(iters, 100 * (mean - std), 100 * (mean + std), color=f'C{i % 10}', alpha=0.15)
    for chance in sorted(c for c in chances if c):
        ax.axhline(100 * chance, color='grey', linestyle=':', label=f'chance ({100 * chance:.1f}%)')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('iteration')
    ax.set_ylabel('held-out flip correspondence accuracy (%)')
    ax.set_title(
        f'{len(results["data"]["held_out"])} held-out images, {results["size"]} px, seeds '
        f'{results["seeds"]}',
        fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='best')
    fig.tight_layout()
    fig.savefig(path)


def compose_maps(results: Dict[str, Any], path: str, num_images: int) -> bool:
    """One grid of the per-run correspondence maps: a row per held-out image, a column per run."""
    import matplotlib.image as mpimg
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    names = list(results['runs'])
    held = results['data']['held_out'][:num_images]
    tiles = {}
    for name, run in results['runs'].items():
        first = run['seeds'].get(str(results['seeds'][0])) or {}
        map_dir = osp.join(osp.dirname(first.get('checkpoint', '')), 'maps')
        for i in range(len(held)):
            tile = osp.join(map_dir, f'{i:02d}.png')
            if first.get('checkpoint') and osp.isfile(tile):
                tiles[name, i] = mpimg.imread(tile)
    if not tiles:
        return False
    th, tw = next(iter(tiles.values())).shape[:2]
    dpi = 100
    fig = Figure(figsize=(len(names) * tw / dpi, len(held) * (th + 30) / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    for r, image in enumerate(held):
        for c, name in enumerate(names):
            ax = fig.add_subplot(len(held), len(names), r * len(names) + c + 1)
            ax.set_axis_off()
            if (name, r) in tiles:
                ax.imshow(tiles[name, r])
            else:
                ax.text(0.5, 0.5, 'no map', ha='center', va='center', transform=ax.transAxes)
            ax.set_title(f'{name} | {image}', fontsize=8)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 30 / (len(held) * (th + 30)), wspace=0.02, hspace=0.12)
    fig.savefig(path)
    return True


# --- command line ----------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pretrain several configs with the same seed, data and budget; compare their dense features '
        'on held-out images',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--data', help='image folder (searched recursively); default: the bundled demo photos')
    parser.add_argument(
        '--held-out',
        metavar='DIR_OR_N',
        help='a folder of held-out images, or how many images of --data to hold out (default: 20%%, '
        'at least 1, at most 16)')
    parser.add_argument('--split-seed', type=int, default=0, help='seed of the train / held-out split')
    parser.add_argument(
        '--runs',
        nargs='*',
        default=list(DEFAULT_RUNS),
        help=f'built-in runs: {", ".join(DEFAULT_RUNS + OPTIONAL_RUNS)}, byol-lc-alpha<A>')
    parser.add_argument('--alphas', type=float, nargs='*', default=[], help='add byol-lc-alpha<A> runs')
    parser.add_argument('--config', nargs='*', default=[], metavar='NAME=PATH', help='add runs of your own configs')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0], help='training seeds (randomness.seed)')
    parser.add_argument('--iters', type=int, help="training iterations (default: the demo config's)")
    parser.add_argument('--size', type=int, help="view side in pixels, training and held-out (default: the demo's)")
    parser.add_argument(
        '--eval-interval', type=int, help="held-out hook interval (default: the config's, scaled with --iters)")
    parser.add_argument('--work-dir', default='work_dirs/mini_study', help='where runs and results go')
    parser.add_argument('--map-images', type=int, default=3, help='held-out images in correspondence_maps.png')
    parser.add_argument('--map-px', type=int, default=160, help='side of each view in correspondence_maps.png')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='passed to every run\'s tools/train.py (e.g. train_dataloader.batch_size=4)')
    parser.add_argument('--force', action='store_true', help='retrain runs that are already done')
    args = parser.parse_args(argv)
    if not args.runs and not args.alphas and not args.config:
        parser.error('nothing to run')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the study; returns what ``results.json`` holds."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    start = time.time()
    runs = resolve_runs(args.runs, args.alphas, args.config)
    split = resolve_data(args.data, args.held_out, args.split_seed)
    demo = Config.fromfile(osp.join(REPO_ROOT, DEMO_CONFIG))
    iters = args.iters or int(demo.train_cfg.max_iters)
    size = args.size or find_view_size(demo.train_dataloader.dataset.pipeline)
    study = Study(args, split, iters, size)
    os.makedirs(study.work_dir, exist_ok=True)
    print(
        f'mini study: {len(runs)} runs x {len(args.seeds)} seeds, {iters} iterations, {size} px views, '
        f'{len(split.train)} training / {len(split.held)} held-out images; work dir {study.work_dir}',
        flush=True)

    # Every run's config first: a config the study cannot use stops it before any training.
    prepared = {(run.name, seed): study.prepare(run, seed) for run in runs for seed in args.seeds}
    progress = Progress(len(prepared))
    per_run: Dict[str, dict] = {}
    failed = []
    for run in runs:
        seeds, outcomes = {}, []
        for seed in args.seeds:
            metrics = study.do(run, seed, *prepared[run.name, seed], progress)
            outcomes.append(metrics)
            if metrics.get('failed'):
                failed.append(metrics)
            else:
                seeds[str(seed)] = metrics
        first = next(iter(seeds.values()), outcomes[0])
        per_run[run.name] = dict(
            config=run.config,
            model_options=run.model,
            view_options=run.views,
            about=run.about,
            views=first.get('views', '?'),
            batch_size=first.get('batch_size', ''),
            model_type=first.get('model_type'),
            map=_get(first, 'final', 'backbone', 'flip', 'map'),
            chance=_get(first, 'final', 'backbone', 'flip', 'chance'),
            seeds=seeds,
            summary=summarise_run(list(seeds.values())))

    results = dict(
        command=shlex.join(['python', 'tools/analysis/mini_study.py', *argv]),
        demo_config=DEMO_CONFIG,
        iters=iters,
        size=size,
        seeds=list(args.seeds),
        work_dir=study.work_dir,
        data=dict(
            how=split.how,
            train_root=split.train_root,
            train=split.train,
            held_out_root=split.held_root,
            held_out=split.held,
            split_seed=args.split_seed),
        runs=per_run,
        notes=study_notes(per_run, args.seeds),
        failed=failed,
        train_time_s=sum(m['wall_time_s'] for r in per_run.values() for m in r['seeds'].values()))
    results['total_time_s'] = time.time() - start
    _write_json(osp.join(study.work_dir, 'results.json'), results)
    with open(osp.join(study.work_dir, 'results.md'), 'w') as f:
        f.write(results_markdown(_json_safe(results)))
    plot_curves(results, osp.join(study.work_dir, 'heldout_accuracy.png'))
    compose_maps(results, osp.join(study.work_dir, 'correspondence_maps.png'), args.map_images)
    print(
        f'results: {osp.join(study.work_dir, "results.md")} (and results.json, heldout_accuracy.png, '
        f'correspondence_maps.png); {results["total_time_s"]:.0f} s',
        flush=True)
    return _json_safe(results)


if __name__ == '__main__':
    sys.exit(1 if main()['failed'] else 0)

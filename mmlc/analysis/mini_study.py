# Copyright (c) mmlc contributors. All rights reserved.
"""Pure pieces of the mini study (``tools/analysis/mini_study.py``): pretrain several configs with the same seed,
data and budget, then compare their dense features on held-out images.

Here: the seeded train / held-out split, the config delta that puts every run on the same data, seed, iterations,
view size and held-out hook (with the learning-rate schedule rescaled to the new length), the parsing of the
correspondence hook's JSON-lines log, the mean ± std over seeds and the markdown table. No training and no model
code: the tool runs ``tools/train.py`` for each run and scores its checkpoint with :mod:`mmlc.analysis`.
"""

import copy
import json
import math
import pprint
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

#: mmengine's end of an open-ended parameter scheduler (``mmengine.optim.scheduler.param_scheduler.INF``).
SCHEDULER_INF = int(1e9)
#: Output-size argument of each view-making transform (mmpretrain's ``RandomResizedCrop`` calls it ``scale``).
VIEW_SIZE_KEYS = {'PairedCorrespondenceTransform': 'size', 'RandomResizedCrop': 'scale'}
#: Name of the correspondence hook the study configures, hence of its log ``<run dir>/corr.jsonl``.
STUDY_HOOK_NAME = 'corr'
#: Seed of the held-out view pairs, in the hook and in the final evaluation alike.
PAIR_SEED = 0


def plain(obj: Any) -> Any:
    """``obj`` with every mapping turned into a ``dict`` (e.g. mmengine's ``ConfigDict``), recursively; tuples stay
    tuples.

    What :func:`render_delta_config` writes must be plain Python literals.
    """
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(plain(v) for v in obj)
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def type_name(transform_or_type: Union[Mapping, str, None]) -> str:
    """Registered type of a config dict (or a type string) without its scope: ``'mmpretrain.X'`` -> ``'X'``."""
    name = transform_or_type.get('type', '') if isinstance(transform_or_type, Mapping) else transform_or_type
    return str(name or '').split('.')[-1]


# --- schedule --------------------------------------------------------------------------------------------------


def scale_iters(value: float, old_iters: int, new_iters: int) -> int:
    """An iteration count of an ``old_iters`` schedule moved to a ``new_iters`` one: ``round(value * new / old)``."""
    return int(round(value * new_iters / old_iters))


def rescale_interval(interval: int, old_iters: int, new_iters: int) -> int:
    """An evaluation / logging interval scaled with the schedule (so a shorter run is measured as often), at least
    1. E.g. 50 of 300 iterations -> 3 of 20, 1 of 2."""
    return max(1, scale_iters(interval, old_iters, new_iters))


def rescale_param_schedulers(schedulers: Union[Mapping, Sequence[Mapping]], old_iters: int,
                             new_iters: int) -> List[dict]:
    """Scale iteration-based parameter schedulers from an ``old_iters`` run to a ``new_iters`` one.

    ``begin``, ``end``, ``T_max`` and ``milestones`` (where present) are multiplied by ``new_iters / old_iters``
    and rounded, so a warm-up keeps its share of the run and a cosine still ends at the last iteration. A
    ``T_max`` equal to ``end - begin`` stays equal to the new ``end - begin`` (no rounding drift); a scheduler
    never shrinks below one iteration (mmengine refuses ``end <= begin``), and an open end
    (:data:`SCHEDULER_INF`) stays open. E.g. the demo's ``LinearLR [0, 30)`` + ``CosineAnnealingLR [30, 300),
    T_max=270`` at 20 iterations: ``[0, 2)`` + ``[2, 20), T_max=18``.

    Args:
        schedulers (Mapping | Sequence[Mapping]): ``param_scheduler`` of a config (one dict or a list).
        old_iters (int): The config's ``train_cfg.max_iters``.
        new_iters (int): The study's iterations.

    Returns:
        list[dict]: New scheduler configs (the input is not modified).

    Raises:
        ValueError: For an epoch-based scheduler (``by_epoch`` is mmengine's default, True): the study's budget
            is in iterations.
    """
    if old_iters <= 0 or new_iters <= 0:
        raise ValueError(f'iterations must be positive, got {old_iters} -> {new_iters}')
    if isinstance(schedulers, Mapping):
        schedulers = [schedulers]
    out = []
    for sched in schedulers:
        sched = copy.deepcopy(plain(sched))
        if sched.get('by_epoch', True):
            raise ValueError(f'{sched.get("type")} is epoch-based (by_epoch=True); the mini study rescales '
                             'iteration-based schedules only (by_epoch=False)')
        begin, end = sched.get('begin', 0), sched.get('end', SCHEDULER_INF)
        new_begin = min(scale_iters(begin, old_iters, new_iters), new_iters - 1)
        new_end = end if end >= SCHEDULER_INF else max(new_begin + 1, scale_iters(end, old_iters, new_iters))
        if 'begin' in sched:
            sched['begin'] = new_begin
        if 'end' in sched:
            sched['end'] = new_end
        if sched.get('T_max') is not None:
            if sched['T_max'] == end - begin and end < SCHEDULER_INF:
                sched['T_max'] = new_end - new_begin
            else:
                sched['T_max'] = max(1, scale_iters(sched['T_max'], old_iters, new_iters))
        if 'milestones' in sched:
            sched['milestones'] = [scale_iters(m, old_iters, new_iters) for m in sched['milestones']]
        out.append(sched)
    return out


# --- data ------------------------------------------------------------------------------------------------------


def default_held_out_count(num_images: int) -> int:
    """Held-out images when none is asked for: 20% of the images, at least 1 and at most 16, always leaving at
    least one to train on."""
    if num_images < 2:
        raise ValueError(f'a train / held-out split needs at least 2 images, got {num_images}')
    return min(num_images - 1, 16, max(1, int(round(0.2 * num_images))))


def split_held_out(names: Sequence[str], held_out: int, seed: int = 0) -> Tuple[List[str], List[str]]:
    """Seeded split of image names into (train, held-out).

    The held-out set is the first ``held_out`` of the sorted names permuted by ``numpy.random.default_rng(seed)``:
    it depends on the names and the seed only (not their order), so it is the same for every run and training seed
    of a study. Both lists come back sorted.

    Args:
        names (Sequence[str]): Distinct image names (or paths).
        held_out (int): How many to hold out, in [1, len(names) - 1].
        seed (int): Seed of the split. Defaults to 0.

    Returns:
        tuple[list[str], list[str]]: (train, held-out), disjoint, together all of ``names``.
    """
    names = sorted(names)
    if len(set(names)) != len(names):
        raise ValueError('image names must be distinct')
    if not 1 <= held_out <= len(names) - 1:
        raise ValueError(f'held_out must be in [1, {len(names) - 1}] for {len(names)} images, got {held_out}')
    order = np.random.default_rng(seed).permutation(len(names))  # (N,)
    held = {names[i] for i in order[:held_out]}
    return sorted(n for n in names if n not in held), sorted(held)


# --- views -----------------------------------------------------------------------------------------------------


def _walk(pipeline: Any) -> Iterable[dict]:
    """Every transform dict of a pipeline, including those nested in ``transforms`` (``MultiView``,
    ``RandomApply``: a list of dicts or a list of lists of dicts)."""
    if isinstance(pipeline, Mapping):
        yield pipeline
        pipeline = pipeline.get('transforms', [])
    if isinstance(pipeline, (list, tuple)):
        for item in pipeline:
            yield from _walk(item)


def transform_types(pipeline: Sequence) -> List[str]:
    """Types (unscoped) of every transform in a pipeline, nested ones included, in order."""
    return [type_name(t) for t in _walk(pipeline)]


def find_view_size(pipeline: Sequence) -> Optional[int]:
    """View side of a training pipeline: the size of its first view-making transform (:data:`VIEW_SIZE_KEYS`),
    None when it has none.

    A (h, w) size gives h.
    """
    for t in _walk(pipeline):
        key = VIEW_SIZE_KEYS.get(type_name(t))
        if key is not None and t.get(key) is not None:
            size = t[key]
            return int(size[0] if isinstance(size, (list, tuple)) else size)
    return None


def set_view_size(pipeline: Sequence, size: int) -> List[dict]:
    """A copy of ``pipeline`` whose first view-making transform (:data:`VIEW_SIZE_KEYS`) outputs ``size`` px square
    views, and every other one views scaled by the same factor (rounded), so that DINO's local crops keep their
    ratio to the global ones (e.g. 64 and 32 px -> 96 and 48 px); pipelines whose views share one size get ``size``
    everywhere.

    Raises:
        ValueError: When the pipeline has no such transform (its view size cannot be set).
    """
    pipeline = copy.deepcopy(plain(list(pipeline)))
    reference = find_view_size(pipeline)
    changed = 0
    for t in _walk(pipeline):
        key = VIEW_SIZE_KEYS.get(type_name(t))
        if key is not None:
            own = t.get(key)
            own = own[0] if isinstance(own, (list, tuple)) else own
            t[key] = int(size) if own is None or not reference else max(1, int(round(own * size / reference)))
            changed += 1
    if not changed:
        raise ValueError(f'no view-making transform ({", ".join(VIEW_SIZE_KEYS)}) in the pipeline '
                         f'{transform_types(pipeline)}')
    return pipeline


def describe_views(pipeline: Sequence) -> str:
    """What the two training views of a pipeline are, for the study's notes."""
    types = transform_types(pipeline)
    if 'PairedCorrespondenceTransform' in types:
        local = ' + local crops' if 'PairedMultiCrop' in types else ''
        return 'I_c + I_sc (whole image + random resized crop, maybe flipped)' + local
    if 'MultiView' in types and 'RandomResizedCrop' in types:
        views = [t.get('num_views') for t in _walk(pipeline) if type_name(t) == 'MultiView']
        many = any(sum(v) > 2 if isinstance(v, (list, tuple)) else (v or 0) > 2 for v in views)
        return 'two random resized crops' + (' + local crops' if many else '')
    return 'other (' + ', '.join(t for t in types if t not in ('PackInputs', 'LoadImageOrSkip')) + ')'


# --- the per-run config delta ----------------------------------------------------------------------------------


def study_hooks(hooks: Optional[Sequence[Mapping]], held_root: Optional[str], held_names: Sequence[str], size: int,
                interval: int) -> List[dict]:
    """``custom_hooks`` with the study's correspondence hook in place of the config's.

    The study's hook scores flip pairs of the held-out images at ``size`` px: the backbone's last map, plus the
    local projection where the model has one, of the online network, with colour transforms and pair seed
    :data:`PAIR_SEED`, named :data:`STUDY_HOOK_NAME`. Those are the pairs and the part the final evaluation
    scores, so its last line equals the final flip accuracy. It takes the place of the config's first
    ``CorrespondenceAccuracyHook``; the config's other correspondence hooks are dropped (their images are not the
    study's split, e.g. the demo's ``corr_train`` on bundled training photos, and each costs an evaluation per
    interval). Other hooks are kept as they are.
    """
    hooks = [plain(h) for h in (hooks or [])]
    study = dict(
        type='CorrespondenceAccuracyHook',
        interval=int(interval),
        data_root=held_root,
        names=tuple(held_names),
        max_images=len(held_names),
        size=int(size),
        mode='flip',
        colour=True,
        stage=-1,
        use_local_neck=False,
        branch='online',
        seed=PAIR_SEED,
        evaluate_before_train=True,
        name=STUDY_HOOK_NAME)
    corr = [i for i, h in enumerate(hooks) if type_name(h) == 'CorrespondenceAccuracyHook']
    at = corr[0] if corr else len(hooks)
    kept = [h for i, h in enumerate(hooks) if i not in corr]
    return kept[:at] + [study] + kept[at:]


def study_overrides(cfg: Mapping,
                    iters: int,
                    size: int,
                    seed: int,
                    train_root: Optional[str],
                    train_names: Sequence[str],
                    held_root: Optional[str],
                    held_names: Sequence[str],
                    eval_interval: Optional[int] = None) -> Dict[str, Any]:
    """What the study changes in a config so that every run has the same data, seed, budget and views.

    - data: ``BundledPhotos`` with ``train_names`` (bundled photo keys when ``train_root`` is None, else files
      inside it) and the config's own training pipeline with its views set to ``size`` px;
    - seed: ``randomness.seed``; budget: ``train_cfg.max_iters = iters`` with the parameter schedulers, the
      logging interval and the hook interval rescaled (:func:`rescale_param_schedulers`), and a checkpoint at the
      last iteration (``iter_<iters>.pth``);
    - held-out hook: :func:`study_hooks`, every ``eval_interval`` iterations (default: the config's own hook
      interval rescaled, or a sixth of the run).

    Args:
        cfg (Mapping): The run's config (mmengine ``Config``), iteration-based (``train_cfg.max_iters``).
        iters (int): Training iterations.
        size (int): View side in pixels (training and held-out pairs).
        seed (int): ``randomness.seed``.
        train_root (str, optional): Directory of the training images; None for bundled photos.
        train_names (Sequence[str]): Training images.
        held_root (str, optional): Directory of the held-out images; None for bundled photos.
        held_names (Sequence[str]): Held-out images.
        eval_interval (int, optional): Hook interval. Defaults to None (rescaled, see above).

    Returns:
        dict: Top-level config keys -> values, plain Python, for :func:`render_delta_config`.
    """
    train_cfg = cfg.get('train_cfg') or {}
    if not train_cfg.get('max_iters'):
        raise ValueError('the mini study needs an iteration-based config (train_cfg.max_iters); got train_cfg='
                         f'{plain(train_cfg)}')
    old_iters = int(train_cfg['max_iters'])
    pipeline = cfg['train_dataloader']['dataset']['pipeline']
    hooks = cfg.get('custom_hooks') or []
    if eval_interval is None:
        own = [h.get('interval', 50) for h in hooks if type_name(h) == 'CorrespondenceAccuracyHook']
        eval_interval = rescale_interval(own[0], old_iters, iters) if own else max(1, iters // 6)
    default_hooks: Dict[str, dict] = dict(checkpoint=dict(by_epoch=False, interval=int(iters)))
    logger = (cfg.get('default_hooks') or {}).get('logger') or {}
    if logger.get('interval'):
        default_hooks['logger'] = dict(interval=rescale_interval(logger['interval'], old_iters, iters))
    out: Dict[str, Any] = dict(
        randomness=dict(seed=int(seed)),
        train_cfg=dict(max_iters=int(iters)),
        default_hooks=default_hooks,
        train_dataloader=dict(
            dataset=dict(
                _delete_=True,
                type='BundledPhotos',
                names=tuple(train_names),
                data_root=train_root,
                pipeline=set_view_size(pipeline, size))),
        custom_hooks=study_hooks(hooks, held_root, held_names, size, eval_interval))
    if cfg.get('param_scheduler'):
        out['param_scheduler'] = rescale_param_schedulers(cfg['param_scheduler'], old_iters, iters)
    return out


def render_delta_config(base: str, overrides: Mapping[str, Any], comment: str = '') -> str:
    """Source of an mmengine config that inherits ``base`` and sets ``overrides`` (top-level key -> value).

    Written as Python literals rather than passed as ``--cfg-options``: those cannot carry file names with spaces
    or commas, strings that look like numbers, or lists of dicts (a pipeline, the hooks).
    """
    lines = [f'# {line}'.rstrip() for line in comment.splitlines()]
    lines.append(f'_base_ = {base!r}')
    for key, value in overrides.items():
        lines.append('')
        lines.append(f'{key} = ' + pprint.pformat(plain(value), width=110, sort_dicts=False))
    return '\n'.join(lines) + '\n'


# --- results ---------------------------------------------------------------------------------------------------


def parse_jsonl(lines: Iterable[str]) -> List[dict]:
    """Records of a JSON-lines log keyed by ``iter``, sorted by it; when an iteration appears more than once (a
    resumed run measures again), the last line wins.

    Blank and unreadable lines (a write cut short) are skipped.
    """
    by_iter: Dict[int, dict] = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and 'iter' in record:
            by_iter[int(record['iter'])] = record
    return [by_iter[k] for k in sorted(by_iter)]


def read_jsonl(path: str) -> List[dict]:
    """:func:`parse_jsonl` of a file."""
    with open(path) as f:
        return parse_jsonl(f)


def mean_std(values: Iterable[Optional[float]]) -> Dict[str, Any]:
    """Mean and *sample* standard deviation (ddof=1: the spread of a new seed's result) of the given values,
    ignoring None and NaN.

    Returns:
        dict: ``mean`` (None without values), ``std`` (None with fewer than two), ``n``.
    """
    vals = np.array([float(v) for v in values if v is not None and not math.isnan(float(v))], dtype=np.float64)
    return dict(
        mean=float(vals.mean()) if vals.size else None,
        std=float(vals.std(ddof=1)) if vals.size > 1 else None,
        n=int(vals.size))


def format_mean_std(stat: Mapping[str, Any], scale: float = 100., digits: int = 1) -> str:
    """``'8.3 ± 1.2'`` from :func:`mean_std` (scaled, e.g. fractions to percent); only the mean with one value,
    ``'–'`` with none."""
    if stat.get('mean') is None:
        return '–'
    text = f'{stat["mean"] * scale:.{digits}f}'
    if stat.get('std') is not None:
        text += f' ± {stat["std"] * scale:.{digits}f}'
    return text


def aggregate_curves(curves: Sequence[Sequence[Mapping]], key: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and sample std over seeds of one metric of per-seed hook logs, at the iterations every seed measured
    it.

    Args:
        curves (Sequence[Sequence[Mapping]]): One :func:`parse_jsonl` list per seed.
        key (str): Metric, e.g. ``'acc'`` or ``'local_acc'``.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: (T,) iterations, (T,) mean, (T,) std (0 with one seed); empty
        when the key is never measured by every seed.
    """
    per_seed = [{int(r['iter']): float(r[key]) for r in c if r.get(key) is not None} for c in curves]
    common = sorted(set.intersection(*(set(d) for d in per_seed))) if per_seed else []
    values = np.array([[d[i] for i in common] for d in per_seed], dtype=np.float64).reshape(len(per_seed),
                                                                                            len(common))  # (S, T)
    if not common:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    std = values.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(len(common))
    return np.array(common, dtype=np.int64), values.mean(axis=0), std


def render_markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; ``|`` in a cell is escaped and newlines become spaces.

    Raises:
        ValueError: When a row's length differs from the header's.
    """

    def cell(value: Any) -> str:
        return str(value).replace('|', '\\|').replace('\n', ' ')

    lines = ['| ' + ' | '.join(cell(h) for h in header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f'row {list(row)} has {len(row)} cells, the header {len(header)}')
        lines.append('| ' + ' | '.join(cell(v) for v in row) + ' |')
    return '\n'.join(lines) + '\n'

# Copyright (c) mmlc contributors. All rights reserved.
"""Build a class subset of ImageNet (e.g. ImageNet-100) in mmpretrain's ImageNet layout.

    python tools/dataset_converters/imagenet_subset.py data/imagenet data/imagenet100 \
        [--classes tools/dataset_converters/imagenet100_classes.txt] [--link symlink|hardlink|copy]

IMAGENET_ROOT holds ``train/<wnid>/*.JPEG`` and optionally a validation set, either as class folders
(``val/<wnid>/*.JPEG``) or as mmpretrain keeps it (flat ``val/*.JPEG`` with ``meta/val.txt`` of
``<file> <label>`` lines, labels indexing the sorted train wnids, or ``meta/train.txt``'s labels when it exists).
OUT_ROOT gets ``train/<wnid>/``, ``meta/train.txt`` (``<wnid>/<file> <label>`` lines), the validation set in the
source's layout with ``meta/val.txt``, and ``meta/classes.txt``. Labels are the classes' positions in sorted
wnid order, which is what mmpretrain gives a folder scan of the subset, so both readings agree.

Every class id must be a WordNet id (``n`` + 8 digits) present under IMAGENET_ROOT/train; the tool checks all of
them before writing anything, and refuses an OUT_ROOT that already holds a subset.
"""

import argparse
import os
import os.path as osp
import re
import shutil
from typing import Dict, List, Optional, Tuple

# mmpretrain's ImageNet.IMG_EXTENSIONS, compared case-insensitively as mmpretrain does.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')
DEFAULT_CLASSES = osp.join(osp.dirname(osp.abspath(__file__)), 'imagenet100_classes.txt')
WNID_RE = re.compile(r'^n\d{8}$')


def read_class_list(path: str) -> List[str]:
    """The WordNet ids of a class-list file: one per line; blank lines and ``#`` comments ignored.

    Raises:
        ValueError: a malformed or repeated id (with its line number), or no id at all.
    """
    wnids, errors, seen = [], [], {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            wnid = line.split('#', 1)[0].strip()
            if not wnid:
                continue
            if not WNID_RE.match(wnid):
                errors.append(f'line {number}: {wnid!r} is not a WordNet id (n + 8 digits)')
            elif wnid in seen:
                errors.append(f'line {number}: {wnid} repeats line {seen[wnid]}')
            else:
                seen[wnid] = number
                wnids.append(wnid)
    if errors:
        raise ValueError(f'{path}: ' + '; '.join(errors))
    if not wnids:
        raise ValueError(f'{path}: no class ids')
    return wnids


def is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def list_images(folder: str) -> List[str]:
    """Image file names directly inside ``folder``, sorted."""
    return sorted(e.name for e in os.scandir(folder) if e.is_file() and is_image(e.name))


def source_labels(root: str) -> List[str]:
    """The full data set's wnid of each label index: from ``meta/train.txt`` when present, else the sorted
    train folders (the ILSVRC and mmpretrain convention)."""
    ann = osp.join(root, 'meta', 'train.txt')
    if not osp.isfile(ann):
        return sorted(e.name for e in os.scandir(osp.join(root, 'train')) if e.is_dir())
    by_label: Dict[int, str] = {}
    with open(ann) as f:
        for line in f:
            if line.strip():
                path, label = line.rsplit(maxsplit=1)
                by_label.setdefault(int(label), path.replace('\\', '/').split('/')[0])
    return [by_label[i] for i in range(len(by_label))]


def place(src: str, dst: str, link: str) -> None:
    """Make ``dst`` a symlink (absolute), a hard link or a copy of ``src``."""
    os.makedirs(osp.dirname(dst), exist_ok=True)
    if link == 'symlink':
        os.symlink(osp.abspath(src), dst)
    elif link == 'hardlink':
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def plan_subset(root: str, wnids: List[str]) -> Tuple[Dict[str, List[str]], Optional[str], List[Tuple[str, str]]]:
    """Check the source and list what to write, before anything is written.

    Returns:
        tuple: train images per wnid; the validation layout (``'folders'``, ``'flat'`` or None); the
        validation images as (path relative to ``val/``, wnid).

    Raises:
        FileNotFoundError: no ``train/`` folder, or class ids missing from it (all of them listed).
    """
    train = osp.join(root, 'train')
    if not osp.isdir(train):
        raise FileNotFoundError(f'{train} does not exist: IMAGENET_ROOT must hold train/<wnid>/ folders')
    missing = [w for w in wnids if not osp.isdir(osp.join(train, w))]
    if missing:
        raise FileNotFoundError(f'{len(missing)} of {len(wnids)} class ids have no folder in {train}: '
                                f'{", ".join(missing)}')
    train_images = {w: list_images(osp.join(train, w)) for w in wnids}
    empty = [w for w, names in train_images.items() if not names]
    if empty:
        raise FileNotFoundError(f'no images in {", ".join(osp.join(train, w) for w in empty)}')

    val, wanted = osp.join(root, 'val'), set(wnids)
    val_ann = osp.join(root, 'meta', 'val.txt')
    if osp.isdir(val) and any(osp.isdir(osp.join(val, w)) for w in wnids):
        return train_images, 'folders', [(f'{w}/{name}', w) for w in wnids if osp.isdir(osp.join(val, w))
                                         for name in list_images(osp.join(val, w))]
    if osp.isdir(val) and osp.isfile(val_ann):
        labels = source_labels(root)
        items = []
        with open(val_ann) as f:
            for line in f:
                if line.strip():
                    name, label = line.rsplit(maxsplit=1)
                    if int(label) >= len(labels):
                        raise ValueError(f'{val_ann}: label {label} but only {len(labels)} classes in the source')
                    if labels[int(label)] in wanted:
                        items.append((name, labels[int(label)]))
        return train_images, 'flat', items
    return train_images, None, []


def build_subset(root: str, out: str, wnids: List[str], link: str = 'symlink') -> Dict[str, object]:
    """Write the subset of ``root``'s classes ``wnids`` to ``out`` (see the module docstring).

    Returns:
        dict: ``classes``, ``train`` (images), ``train_per_class`` (min, max), ``val`` (images or None if the
        source has no validation set) and ``val_layout``.
    """
    if osp.exists(osp.join(out, 'train')) or osp.exists(osp.join(out, 'meta', 'train.txt')):
        raise FileExistsError(f'{out} already holds a subset (train/ or meta/train.txt); remove it first')
    train_images, val_layout, val_items = plan_subset(root, wnids)
    label = {w: i for i, w in enumerate(sorted(wnids))}  # what a folder scan of the subset would assign

    os.makedirs(osp.join(out, 'meta'), exist_ok=True)
    try:
        with open(osp.join(out, 'meta', 'train.txt'), 'w') as f:
            for w in sorted(wnids):
                for name in train_images[w]:
                    place(osp.join(root, 'train', w, name), osp.join(out, 'train', w, name), link)
                    f.write(f'{w}/{name} {label[w]}\n')
        if val_layout is not None:
            with open(osp.join(out, 'meta', 'val.txt'), 'w') as f:
                for rel, w in val_items:
                    place(osp.join(root, 'val', rel), osp.join(out, 'val', rel), link)
                    f.write(f'{rel} {label[w]}\n')
        with open(osp.join(out, 'meta', 'classes.txt'), 'w') as f:
            f.write(''.join(f'{w}\n' for w in sorted(wnids)))
    except OSError as e:  # e.g. a hard link across file systems
        raise OSError(f'{e}; {out} is incomplete: remove it before trying again') from e
    counts = [len(names) for names in train_images.values()]
    return dict(
        classes=len(wnids),
        train=sum(counts),
        train_per_class=(min(counts), max(counts)),
        val=len(val_items) if val_layout else None,
        val_layout=val_layout)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Class subset of ImageNet in mmpretrain\'s layout')
    parser.add_argument('imagenet_root', help='ImageNet root with train/<wnid>/ (and optionally val)')
    parser.add_argument('out_root', help='output root, e.g. data/imagenet100')
    parser.add_argument(
        '--classes',
        default=DEFAULT_CLASSES,
        help='class-list file, one WordNet id per line (default: ImageNet-100, CMC\'s list)')
    parser.add_argument(
        '--link',
        choices=['symlink', 'hardlink', 'copy'],
        default='symlink',
        help='how images get into OUT_ROOT (default symlink; hardlink needs one file system)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    args = parse_args(argv)
    try:
        report = build_subset(args.imagenet_root, args.out_root, read_class_list(args.classes), args.link)
    except (ValueError, OSError) as e:  # OSError: also a hard link across file systems
        raise SystemExit(f'imagenet_subset: {e}')
    low, high = report['train_per_class']
    val = ('no validation set in the source'
           if report['val'] is None else f'{report["val"]} validation images ({report["val_layout"]} layout)')
    print(f'{report["classes"]} classes, {report["train"]} training images ({low}-{high} per class), {val}, '
          f'{args.link} -> {args.out_root}')
    return report


if __name__ == '__main__':
    main()

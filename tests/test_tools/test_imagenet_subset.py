# Copyright (c) mmlc contributors. All rights reserved.
"""tools/dataset_converters/imagenet_subset.py on a tiny fake ImageNet tree, and the ImageNet-100 class list."""

import os
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import mmlc  # noqa: F401
from conftest import BYOL_LC_DIR, REPO_ROOT, load_script

TOOL = 'tools/dataset_converters/imagenet_subset.py'
CLASS_LIST = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'imagenet100_classes.txt')
# Four classes in the fake source; their 1000-class labels are their positions in sorted order (0-3).
SOURCE = {
    'n00000001': ['a.JPEG', 'b.JPEG'],
    'n00000002': ['c.JPEG'],
    'n00000003': ['d.jpg', 'e.PNG', 'f.JPEG'],
    'n00000004': ['g.JPEG']
}


@pytest.fixture(scope='module')
def tool():
    return load_script(TOOL)


def write_image(path, value: int) -> None:
    import mmcv
    os.makedirs(osp.dirname(path), exist_ok=True)
    mmcv.imwrite(np.full((40, 60, 3), value, np.uint8), path)


def fake_imagenet(root, val: str = 'flat', with_train_meta: bool = False) -> None:
    """``root/train/<wnid>/`` with the SOURCE images (and a non-image file), and a validation set in the
    flat mmpretrain layout (``val/*.JPEG`` + ``meta/val.txt``), in class folders, or none."""
    for i, (wnid, names) in enumerate(sorted(SOURCE.items())):
        for name in names:
            write_image(osp.join(root, 'train', wnid, name), 10 * i)
        with open(osp.join(root, 'train', wnid, 'readme.txt'), 'w') as f:
            f.write('not an image')
    if with_train_meta:
        os.makedirs(osp.join(root, 'meta'), exist_ok=True)
        with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
            f.writelines(f'{w}/{n} {i}\n' for i, (w, names) in enumerate(sorted(SOURCE.items())) for n in names)
    if val == 'flat':
        os.makedirs(osp.join(root, 'meta'), exist_ok=True)
        with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
            for k, label in enumerate([0, 1, 2, 3, 2, 0]):
                write_image(osp.join(root, 'val', f'ILSVRC2012_val_{k:08d}.JPEG'), label)
                f.write(f'ILSVRC2012_val_{k:08d}.JPEG {label}\n')
    elif val == 'folders':
        for wnid in SOURCE:
            write_image(osp.join(root, 'val', wnid, f'{wnid}_val.JPEG'), 0)


def class_file(path, wnids, extra: str = '') -> str:
    with open(path, 'w') as f:
        f.write('# a comment\n\n' + ''.join(f'{w}  # why\n' for w in wnids) + extra)
    return str(path)


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_builds_the_subset_in_mmpretrain_layout(tool, tmp_path, capsys):
    src, out = tmp_path / 'imagenet', tmp_path / 'subset'
    fake_imagenet(src)
    # Listed out of order: labels follow sorted wnids, as a folder scan of the subset would number them.
    classes = class_file(tmp_path / 'classes.txt', ['n00000003', 'n00000001'])
    report = tool.main([str(src), str(out), '--classes', classes])
    assert read_lines(out / 'meta' / 'train.txt') == [
        'n00000001/a.JPEG 0', 'n00000001/b.JPEG 0', 'n00000003/d.jpg 1', 'n00000003/e.PNG 1', 'n00000003/f.JPEG 1'
    ]
    # Source val labels 0 and 2 are n00000001 and n00000003; the others are dropped.
    assert read_lines(out / 'meta' / 'val.txt') == [
        'ILSVRC2012_val_00000000.JPEG 0', 'ILSVRC2012_val_00000002.JPEG 1', 'ILSVRC2012_val_00000004.JPEG 1',
        'ILSVRC2012_val_00000005.JPEG 0'
    ]
    assert read_lines(out / 'meta' / 'classes.txt') == ['n00000001', 'n00000003']
    assert sorted(os.listdir(out / 'train')) == ['n00000001', 'n00000003']
    assert sorted(os.listdir(out / 'train' / 'n00000003')) == ['d.jpg', 'e.PNG', 'f.JPEG']  # no readme.txt
    link = out / 'train' / 'n00000001' / 'a.JPEG'
    assert osp.islink(link) and osp.isabs(os.readlink(link)) and osp.samefile(link,
                                                                              src / 'train' / 'n00000001' / 'a.JPEG')
    assert report == dict(classes=2, train=5, train_per_class=(2, 3), val=4, val_layout='flat')
    assert capsys.readouterr().out.strip() == ('2 classes, 5 training images (2-3 per class), 4 validation images '
                                               f'(flat layout), symlink -> {out}')

    # mmpretrain's ImageNet reads it through meta/train.txt, and a folder scan of train/ gives the same labels.
    init_default_scope('mmpretrain')
    listed = DATASETS.build(dict(type='ImageNet', data_root=str(out), split='train'))
    scanned = DATASETS.build(dict(type='CustomDataset', data_root=str(out), data_prefix='train'))
    pairs = lambda ds: sorted((osp.relpath(d['img_path'], out), d['gt_label']) for d in ds.load_data_list())  # noqa
    assert pairs(listed) == pairs(scanned) and len(listed) == 5
    val = DATASETS.build(dict(type='ImageNet', data_root=str(out), split='val'))
    assert [d['gt_label'] for d in val.load_data_list()] == [0, 1, 1, 0]


@pytest.mark.parametrize('link', ['hardlink', 'copy'])
def test_hardlink_and_copy(tool, tmp_path, link):
    src, out = tmp_path / 'imagenet', tmp_path / 'subset'
    fake_imagenet(src, val='folders')
    report = tool.main([str(src), str(out), '--classes', class_file(tmp_path / 'c.txt', ['n00000002']), '--link', link])
    made, orig = out / 'train' / 'n00000002' / 'c.JPEG', src / 'train' / 'n00000002' / 'c.JPEG'
    assert not osp.islink(made) and made.read_bytes() == orig.read_bytes()
    assert osp.samefile(made, orig) == (link == 'hardlink')
    # Class-folder validation sets keep their layout.
    assert report['val_layout'] == 'folders'
    assert read_lines(out / 'meta' / 'val.txt') == ['n00000002/n00000002_val.JPEG 0']


def test_val_labels_follow_the_source_train_list(tool, tmp_path):
    # With meta/train.txt in the source, its labels (not the folder order) say which class a val label is.
    src, out = tmp_path / 'imagenet', tmp_path / 'subset'
    fake_imagenet(src, with_train_meta=True)
    with open(src / 'meta' / 'train.txt', 'w') as f:  # label 0 <-> n00000004, 3 <-> n00000001
        f.write('n00000004/g.JPEG 0\nn00000002/c.JPEG 1\nn00000003/d.jpg 2\nn00000001/a.JPEG 3\n')
    tool.main([str(src), str(out), '--classes', class_file(tmp_path / 'c.txt', ['n00000004'])])
    assert read_lines(out / 'meta' / 'val.txt') == ['ILSVRC2012_val_00000000.JPEG 0', 'ILSVRC2012_val_00000005.JPEG 0']


def test_without_a_validation_set(tool, tmp_path, capsys):
    src, out = tmp_path / 'imagenet', tmp_path / 'subset'
    fake_imagenet(src, val='none')
    report = tool.main([str(src), str(out), '--classes', class_file(tmp_path / 'c.txt', ['n00000004'])])
    assert report['val'] is None and not osp.exists(out / 'meta' / 'val.txt') and not osp.exists(out / 'val')
    assert 'no validation set in the source' in capsys.readouterr().out


def test_missing_classes_are_all_named_and_nothing_is_written(tool, tmp_path):
    src, out = tmp_path / 'imagenet', tmp_path / 'subset'
    fake_imagenet(src)
    classes = class_file(tmp_path / 'c.txt', ['n00000001', 'n09999999', 'n08888888'])
    with pytest.raises(SystemExit, match=r'2 of 3 class ids have no folder .*n09999999, n08888888'):
        tool.main([str(src), str(out), '--classes', classes])
    assert not osp.exists(out)


def test_class_file_errors(tool, tmp_path):
    with pytest.raises(ValueError, match=r"line 4: 'n123' is not a WordNet id.*line 5: n00000001 repeats line 3"):
        tool.read_class_list(class_file(tmp_path / 'c.txt', ['n00000001'], extra='n123\nn00000001\n'))
    with pytest.raises(ValueError, match='no class ids'):
        tool.read_class_list(class_file(tmp_path / 'd.txt', []))


def test_refuses_an_existing_subset(tool, tmp_path):
    src, out = tmp_path / 'imagenet', tmp_path / 'subset'
    fake_imagenet(src)
    classes = class_file(tmp_path / 'c.txt', ['n00000002'])
    tool.main([str(src), str(out), '--classes', classes])
    with pytest.raises(SystemExit, match='already holds a subset'):
        tool.main([str(src), str(out), '--classes', classes])


def test_imagenet100_class_list(tool):
    wnids = tool.read_class_list(CLASS_LIST)  # valid ids, no repeats (checked by the reader)
    assert len(wnids) == 100 and (wnids[0], wnids[-1]) == ('n02869837', 'n02090622')  # CMC's first and last
    assert tool.parse_args(['a', 'b']).classes == CLASS_LIST  # the default
    with open(CLASS_LIST) as f:
        assert re.search(r'github\.com/HobbitLong/CMC/blob/master/imagenet100\.txt', f.read())  # the source


def test_mid_scale_config_reads_the_subset(tool, tmp_path):
    # The mid-scale BYOL + LC config's dataset, pointed at a subset made by the tool, yields paired views.
    src, out = tmp_path / 'imagenet', tmp_path / 'imagenet100'
    fake_imagenet(src)
    tool.main([str(src), str(out), '--classes', class_file(tmp_path / 'c.txt', ['n00000003'])])
    cfg = Config.fromfile(osp.join(BYOL_LC_DIR, 'byol-lc_resnet50_8xb256-coslr-200e_in100.py'))
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet100/'
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(out)))
    item = dataset[0]
    assert len(dataset) == 3 and [tuple(v.shape) for v in item['inputs']] == [(3, 224, 224)] * 2

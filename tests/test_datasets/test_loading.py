# Copyright (c) mmlc contributors. All rights reserved.
"""LoadImageOrSkip: a bad file is logged and skipped, and the dataset serves another image instead."""

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import mmlc  # noqa: F401
from mmlc.datasets import BundledPhotos, LoadImageOrSkip


@pytest.fixture
def images(tmp_path):
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), np.full((20, 30, 3), 200, np.uint8))
    grey = tmp_path / 'grey.png'
    cv2.imwrite(str(grey), np.full((20, 30), 90, np.uint8))
    rgba = tmp_path / 'rgba.png'
    cv2.imwrite(str(rgba), np.dstack([np.full((20, 30, 3), 40, np.uint8), np.full((20, 30), 7, np.uint8)]))
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8\xff\xe0 definitely not a jpeg')
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    return tmp_path


@pytest.mark.parametrize('name, value', [('good.png', 200), ('grey.png', 90), ('rgba.png', 40)])
def test_readable_images_become_rgb(images, name, value):
    out = LoadImageOrSkip(color_type='unchanged')(dict(img_path=str(images / name)))
    assert out['img'].shape == (20, 30, 3) and (out['img'] == value).all()
    assert out['ori_shape'] == (20, 30)


@pytest.mark.parametrize('name', ['corrupt.jpg', 'empty.png', 'missing.png'])
def test_unreadable_images_are_skipped_with_a_warning(images, name, capfd):
    MMLogger.get_instance(f'loading-{name}')  # a current logger whose handler writes to this test's stdout
    assert LoadImageOrSkip()(dict(img_path=str(images / name))) is None
    captured = capfd.readouterr()
    assert f'WARNING - skipping unreadable image {images / name}' in captured.out + captured.err


def test_dataset_draws_another_sample_instead(images):
    init_default_scope('mmpretrain')
    dataset = BundledPhotos(
        names=['corrupt.jpg', 'good.png'],
        data_root=str(images),
        pipeline=[dict(type='LoadImageOrSkip'), dict(type='PackInputs')])
    for _ in range(5):  # whichever index is asked for, the good image comes back
        assert dataset[0]['data_samples'].img_path.endswith('good.png')


def test_to_float32_is_refused():
    with pytest.raises(ValueError, match='uint8'):
        LoadImageOrSkip(to_float32=True)


def test_demo_dataset_reports_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png'):
        BundledPhotos(names=['nope.png'], data_root=str(tmp_path))

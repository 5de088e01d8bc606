# Copyright (c) mmlc contributors. All rights reserved.
"""The results-table writer on sample mmengine logs (real ones are parsed in test_benchmark_configs.py)."""

import os

import pytest

from mmlc.downstream import PROTOCOLS, Protocol, config_stem, parse_test_metrics, protocol_values, render_table
from conftest import load_script

TOOL = 'tools/benchmarks/results_table.py'

DET_LOG = """\
2026/11/28 10:00:00 - mmengine - INFO - Iter(train) [   50/90000]  lr: 1.0e-02  eta: 1 day  \
loss: 1.2000  loss_cls: 0.9000
2026/11/28 10:00:01 - mmengine - INFO - Epoch(val) [5000/5000]    coco/bbox_mAP: 0.1000  \
coco/bbox_mAP_50: 0.2000  coco/bbox_mAP_75: 0.0500
2026/11/28 12:00:00 - mmengine - INFO - Epoch(test) [ 50/5000]    eta: 0:01:00  \
time: 0.0700  data_time: 0.0030  memory: 900
2026/11/28 12:05:00 - mmengine - INFO - bbox_mAP_copypaste: 0.395 0.591 0.423 0.240 0.440 0.520
2026/11/28 12:05:00 - mmengine - INFO - Epoch(test) [5000/5000]    coco/bbox_mAP: 0.3950  coco/bbox_mAP_50: 0.5910  \
coco/bbox_mAP_75: 0.4230  coco/bbox_mAP_s: 0.2400  coco/bbox_mAP_m: 0.4400  coco/bbox_mAP_l: 0.5200  \
coco/segm_mAP: 0.3830  coco/segm_mAP_50: 0.6000  coco/segm_mAP_75: 0.4110  data_time: 0.0031  time: 0.0725
"""
SEG_LOG = """\
2026/11/28 10:00:00 - mmengine - INFO - Iter(test) [1449/1449]    aAcc: 90.0000  mIoU: 60.0000  mAcc: 70.0000
2026/11/28 11:00:00 - mmengine - INFO - Iter(test) [ 100/1449]    eta: 0:00:10  time: 0.0500
2026/11/28 11:00:10 - mmengine - INFO - Iter(test) [1449/1449]    aAcc: 94.5000  mIoU: 70.3000  \
mAcc: 81.2000  data_time: 0.0020  time: 0.0500
"""


def test_parse_takes_the_last_finished_test():
    det = parse_test_metrics(DET_LOG)
    assert det['coco/bbox_mAP'] == 0.395 and det['coco/segm_mAP_75'] == 0.411 and det['time'] == 0.0725
    assert parse_test_metrics(SEG_LOG) == {'aAcc': 94.5, 'mIoU': 70.3, 'mAcc': 81.2, 'data_time': 0.002, 'time': 0.05}
    assert parse_test_metrics(DET_LOG.splitlines()[0] + '\n' + DET_LOG.splitlines()[1]) is None  # train/val only
    assert parse_test_metrics(SEG_LOG.splitlines()[1]) is None  # an unfinished test


def test_protocol_values_scale_and_missing_keys():
    box = Protocol('box', '1', 'a.py', 'mmdetection', ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'), 100.0,
                   (1., 2., 3.))
    kp = Protocol('kp', '8', 'b.py', 'mmdetection', ('coco/keypoints_mAP', ), 100.0, (1., ))
    assert protocol_values(box, parse_test_metrics(DET_LOG)) == pytest.approx([39.5, 59.1, 42.3])
    assert protocol_values(kp, parse_test_metrics(DET_LOG)) is None
    assert protocol_values(box, None) is None


def test_render_by_hand():
    box = Protocol('COCO box', '1', 'a.py', 'mmdetection', ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'),
                   100.0, (40.6, 60.4, 43.6))
    seg = Protocol('VOC seg', '3', 'b.py', 'mmsegmentation', ('mIoU', ), 1.0, (72.1, ))
    missing = Protocol('not run', '9', 'c.py', 'mmdetection', box.metrics, 100.0, (23.3, 37.4, 25.0))
    table = render_table([box, seg, missing], {
        'COCO box': parse_test_metrics(DET_LOG),
        'VOC seg': parse_test_metrics(SEG_LOG)
    })
    assert table == (
        '| Protocol | Table | AP | AP50 | AP75 | mIoU | paper AP | paper AP50 | paper AP75 | paper mIoU |\n'
        '|---|---|---|---|---|---|---|---|---|---|\n'
        '| COCO box | 1 | 39.5 | 59.1 | 42.3 | – | 40.6 | 60.4 | 43.6 | – |\n'
        '| VOC seg | 3 | – | – | – | 70.3 | – | – | – | 72.1 |\n'
        '| not run | 9 | – | – | – | – | 23.3 | 37.4 | 25.0 | – |\n')


def test_paper_numbers_are_the_papers():
    # Copied by hand from the "OURS" rows of Tables 1-4, 8, 9 of the paper.
    paper = {p.name: p.paper for p in PROTOCOLS}
    assert paper['COCO det, RetinaNet R50-FPN 90k'] == (40.6, 60.4, 43.6)
    assert paper['COCO inst. seg, Mask R-CNN R50-FPN 1x (mask)'] == (38.3, 60.0, 41.1)
    assert paper['VOC07+12 det, Faster R-CNN R50-FPN'] == (60.1, 84.2, 67.8)
    assert paper['Cityscapes seg, FCN R50 40k'] == (77.8, )
    assert paper['COCO det, RetinaNet, frozen backbone'] == (30.5, 49.8, 31.7)
    assert paper['COCO keypoints, Keypoint R-CNN R50-FPN 90k'] == (67.2, 87.4, 73.7)
    assert paper['COCO 10% det, Mask R-CNN R50-FPN 1x'] == (27.9, 44.0, 30.1)
    assert {p.table for p in PROTOCOLS} == {'1', '2', '3', '4', '8', '9'}
    assert all(len(p.paper) == len(p.metrics) for p in PROTOCOLS)


def test_tool_reads_the_newest_log_of_each_work_dir(tmp_path):
    retina = next(p for p in PROTOCOLS if 'RetinaNet R50-FPN 90k' in p.name)
    voc_seg = next(p for p in PROTOCOLS if p.name.startswith('VOC12aug seg, FCN R50'))
    for p, old, new in ((retina, SEG_LOG, DET_LOG), (voc_seg, DET_LOG, SEG_LOG)):
        for stamp, text in (('20261127_100000', old), ('20261128_100000', new)):
            d = tmp_path / p.framework / config_stem(p) / stamp
            os.makedirs(d)
            (d / f'{stamp}.log').write_text(text)
    out = tmp_path / 'results.md'
    load_script(TOOL).main([str(tmp_path), '--out', str(out)])
    rows = {line.split(' | ')[0][2:]: line for line in out.read_text().splitlines()[2:]}
    assert len(rows) == len(PROTOCOLS)
    assert rows[retina.name] == f'| {retina.name} | 1 | 39.5 | 59.1 | 42.3 | – | 40.6 | 60.4 | 43.6 | – |'
    assert rows[voc_seg.name] == f'| {voc_seg.name} | 3 | – | – | – | 70.3 | – | – | – | 72.1 |'
    not_run = 'COCO 5% det, Mask R-CNN R50-FPN 1x'
    assert rows[not_run].startswith(f'| {not_run} | 9 | – | – | – | – | 23.3 |')


def test_tool_lists_each_config_once():
    lines = load_script(TOOL).main(['--list']).split('\n')[:-1]
    assert len(lines) == len(set(lines)) == len({p.config for p in PROTOCOLS})
    assert all(line.split(' ')[0] in ('mmdetection', 'mmsegmentation') for line in lines)

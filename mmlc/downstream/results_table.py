# Copyright (c) mmlc contributors. All rights reserved.
"""Read test metrics from mmengine text logs and render the Markdown results table."""

import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from .protocols import Protocol

# The summary line mmengine's LoggerHook writes after a test loop, e.g.
#   "... - mmengine - INFO - Epoch(test) [625/625]    coco/bbox_mAP: 0.4060  coco/bbox_mAP_50: 0.6040 ..."
#   "... - mmengine - INFO - Iter(test) [1449/1449]    aAcc: 94.5000  mIoU: 72.1000  mAcc: 81.2000 ..."
_TEST_LINE = re.compile(r'(?:Epoch|Iter)\(test\)\s+\[\s*(\d+)/(\d+)\]')
_KEY_VALUE = re.compile(r'([A-Za-z][\w/.\-]*):\s+(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?=\s|$)')


def parse_test_metrics(log_text: str) -> Optional[Dict[str, float]]:
    """The metrics of the last finished test loop in an mmengine log.

    Only a summary line whose counter is complete (``[n/n]``) counts; per-iteration progress lines of
    the test loop (``[50/625]``) and training/validation lines are ignored.

    Args:
        log_text (str): Contents of a Runner ``*.log`` file.

    Returns:
        dict[str, float] or None: Every ``key: number`` pair of that line (including ``data_time`` and
        ``time``), or None when the log has no finished test.
    """
    found = None
    for line in log_text.splitlines():
        m = _TEST_LINE.search(line)
        if m and m.group(1) == m.group(2):
            found = {k: float(v) for k, v in _KEY_VALUE.findall(line[m.end():])}
    return found


def protocol_values(protocol: Protocol, metrics: Optional[Mapping[str, float]]) -> Optional[List[float]]:
    """A protocol's numbers in percent, in the order of ``protocol.metrics``.

    Args:
        protocol (Protocol): The row.
        metrics (Mapping[str, float], optional): Output of :func:`parse_test_metrics`.

    Returns:
        list[float] or None: None when there is no log or one of the keys is missing (e.g. a mask row
        read from a box-only log).
    """
    if metrics is None or any(k not in metrics for k in protocol.metrics):
        return None
    return [metrics[k] * protocol.scale for k in protocol.metrics]


def _cells(values: Optional[Sequence[float]], n_metrics: int) -> List[str]:
    """AP/AP50/AP75/mIoU cells: a three-number row fills the AP columns, a one-number row mIoU."""
    if values is None:
        return ['–'] * 4
    text = [f'{v:.1f}' for v in values]
    return text + ['–'] if n_metrics == 3 else ['–'] * 3 + text


def render_table(protocols: Iterable[Protocol], results: Mapping[str, Optional[Mapping[str, float]]]) -> str:
    """The Markdown table: one row per protocol, mmlc's measured numbers beside the paper's.

    Args:
        protocols (Iterable[Protocol]): Rows, in order.
        results (Mapping[str, Mapping[str, float] or None]): Protocol name -> parsed test metrics (None or
            absent when that protocol has not been run).

    Returns:
        str: A Markdown table ending with a newline. Cells without a number read ``–``.
    """
    head = ['Protocol', 'Table', 'AP', 'AP50', 'AP75', 'mIoU', 'paper AP', 'paper AP50', 'paper AP75', 'paper mIoU']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for p in protocols:
        ours = _cells(protocol_values(p, results.get(p.name)), len(p.metrics))
        paper = _cells(p.paper, len(p.metrics))
        lines.append('| ' + ' | '.join([p.name, p.table, *ours, *paper]) + ' |')
    return '\n'.join(lines) + '\n'

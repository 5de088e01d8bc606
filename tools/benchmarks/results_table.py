# Copyright (c) mmlc contributors. All rights reserved.
"""Write the Markdown results table of the paper's downstream protocols from their test logs.

    python tools/benchmarks/results_table.py WORK_ROOT [--out results.md]
    python tools/benchmarks/results_table.py --list        # "FRAMEWORK CONFIG" per config to run

For each protocol of mmlc/downstream/protocols.py, reads the newest ``*.log`` under
``WORK_ROOT/FRAMEWORK/<config name>/<timestamp>/`` (where tools/benchmarks/*/dist_train.sh writes) and
takes the metrics of its last finished test. Protocols not run yet read ``–``.
"""

import argparse
import glob
import os
import os.path as osp
import sys
from typing import Dict, Optional

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install

from mmlc.downstream import PROTOCOLS, Protocol, config_stem, parse_test_metrics, render_table


def newest_log(work_root: str, protocol: Protocol) -> Optional[str]:
    """The newest Runner log of a protocol's work dir (timestamp folders sort by time), or None."""
    logs = sorted(glob.glob(osp.join(work_root, protocol.framework, config_stem(protocol), '*', '*.log')))
    return logs[-1] if logs else None


def collect(work_root: str) -> Dict[str, Optional[Dict[str, float]]]:
    """Protocol name -> metrics of its newest log's last finished test (None when absent)."""
    results = {}
    for p in PROTOCOLS:
        path = newest_log(work_root, p)
        if path is None:
            results[p.name] = None
            continue
        with open(path, encoding='utf-8', errors='replace') as f:
            results[p.name] = parse_test_metrics(f.read())
    return results


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description='Results table of the downstream protocols')
    parser.add_argument('work_root', nargs='?', default='work_dirs/benchmarks', help='root of the work dirs')
    parser.add_argument('--out', help='also write the table to this Markdown file')
    parser.add_argument('--list', action='store_true', help='print "FRAMEWORK CONFIG" of each config to run')
    args = parser.parse_args(argv)
    if args.list:
        seen = dict.fromkeys(f'{p.framework} {p.config}' for p in PROTOCOLS)  # ordered, one per config
        text = '\n'.join(seen) + '\n'
    else:
        text = render_table(PROTOCOLS, collect(args.work_root))
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, 'w') as f:
                f.write(text)
    sys.stdout.write(text)
    return text


if __name__ == '__main__':
    main()

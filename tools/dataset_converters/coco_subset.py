# Copyright (c) mmlc contributors. All rights reserved.
"""Write a seeded random image subset of a COCO annotation file (the paper's Table 9, mini-COCO).

    python tools/dataset_converters/coco_subset.py data/coco/annotations/instances_train2017.json \
        data/coco/annotations/instances_train2017_5pct_seed0.json --fraction 0.05 --seed 0

The images stay where they are; only the annotation file is new.
"""

import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))  # a checkout without install

from mmlc.downstream import sample_coco_subset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Random image subset of a COCO annotation file')
    parser.add_argument('src', help='COCO annotation json, e.g. instances_train2017.json')
    parser.add_argument('out', help='output annotation json')
    parser.add_argument('--fraction', type=float, required=True, help='share of the images to keep, in (0, 1]')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random draw (default 0)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with open(args.src) as f:
        coco = json.load(f)
    subset = sample_coco_subset(coco, args.fraction, args.seed)
    with open(args.out, 'w') as f:
        json.dump(subset, f)
    print(f'kept {len(subset["images"])}/{len(coco["images"])} images and {len(subset["annotations"])}/'
          f'{len(coco["annotations"])} annotations (fraction {args.fraction}, seed {args.seed}) -> {args.out}')


if __name__ == '__main__':
    main()

# Table 9, mini-COCO: Mask R-CNN R50-FPN 1x trained on a random 10% of train2017 images, evaluated on
# the full val2017. Make the annotation file once with
#   python tools/dataset_converters/coco_subset.py data/coco/annotations/instances_train2017.json \
#       data/coco/annotations/instances_train2017_10pct_seed0.json --fraction 0.10 --seed 0
_base_ = 'mask-rcnn_r50_fpn_8xb2-1x_coco.py'

train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train2017_10pct_seed0.json'))

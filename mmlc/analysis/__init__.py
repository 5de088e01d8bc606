# Copyright (c) mmlc contributors. All rights reserved.
"""Analyses of learned features (paper §4.4, §4.6): correspondence accuracy and maps, few-shot transfer.

Pure functions and small data classes; the command-line tools live in ``tools/analysis/`` and the
online metric in :class:`mmlc.engine.hooks.CorrespondenceAccuracyHook`. scikit-learn (few-shot) and
matplotlib (pictures) are imported only where they are used.
"""

from .correspondence_eval import (FLIP_TEST_COLOUR, PairResult, ViewPair, evaluate_pairs, make_crop_pair,
                                  make_flip_pair, pair_seed, prepare_pairs, seeded, summarise)
from .dense_probe import (IGNORE_INDEX, LinearProbe, SegmentationScores, SweepResult, build_memory_bank, channel_stats,
                          check_label_values, confusion_matrix, evaluate_score_maps, knn_class_scores, knn_score_maps,
                          linear_logits, loss_plateaued, lr_sweep, patch_label_histograms, predict_label_map,
                          resize_labels, scores_as_dict, scores_from_confusion, split_indices, standardise,
                          train_linear_probe, upsampled_cross_entropy)
from .features import (EMA_NAMES, IMAGENET_MEAN, IMAGENET_STD, DenseFeatureExtractor, build_feature_extractor,
                       dense_outputs, eval_mode, extractor_from_model, images_to_tensor, resolve_device, token_layout)
from .few_shot import Episode, episode_accuracy, l2_normalise, mean_confidence_interval, sample_episodes
from .image_io import list_images, load_image, resize_centre_crop, resize_square
from .matching import best_match, containing_cell_index, cosine_similarity_maps, match_accuracy, mirrored_cell_index
from .mini_study import (aggregate_curves, default_held_out_count, describe_views, find_view_size, format_mean_std,
                         mean_std, parse_jsonl, read_jsonl, render_delta_config, render_markdown_table,
                         rescale_interval, rescale_param_schedulers, set_view_size, split_held_out, study_hooks,
                         study_overrides)
from .weights import (infer_local_neck_config, infer_resnet_config, infer_vit_config, is_bare_resnet, is_vit_state,
                      load_checkpoint_config, load_checkpoint_state, split_checkpoint_state)

__all__ = [
    'EMA_NAMES', 'dense_outputs', 'DenseFeatureExtractor', 'Episode', 'FLIP_TEST_COLOUR', 'IGNORE_INDEX',
    'IMAGENET_MEAN', 'IMAGENET_STD', 'LinearProbe', 'PairResult', 'SegmentationScores', 'SweepResult', 'ViewPair',
    'aggregate_curves', 'best_match', 'build_feature_extractor', 'build_memory_bank', 'channel_stats',
    'check_label_values', 'confusion_matrix', 'containing_cell_index', 'cosine_similarity_maps',
    'default_held_out_count', 'describe_views', 'episode_accuracy', 'eval_mode', 'evaluate_pairs',
    'evaluate_score_maps', 'extractor_from_model', 'find_view_size', 'format_mean_std', 'images_to_tensor',
    'infer_local_neck_config', 'infer_resnet_config', 'infer_vit_config', 'is_bare_resnet', 'is_vit_state',
    'knn_class_scores', 'knn_score_maps', 'l2_normalise', 'linear_logits', 'list_images', 'load_checkpoint_config',
    'load_checkpoint_state', 'load_image', 'loss_plateaued', 'lr_sweep', 'make_crop_pair', 'make_flip_pair',
    'match_accuracy', 'mean_confidence_interval', 'mean_std', 'mirrored_cell_index', 'pair_seed', 'parse_jsonl',
    'patch_label_histograms', 'predict_label_map', 'prepare_pairs', 'read_jsonl', 'render_delta_config',
    'render_markdown_table', 'rescale_interval', 'rescale_param_schedulers', 'resize_centre_crop', 'resize_labels',
    'resize_square', 'resolve_device', 'sample_episodes', 'scores_as_dict', 'scores_from_confusion', 'seeded',
    'set_view_size', 'split_checkpoint_state', 'split_held_out', 'split_indices', 'standardise', 'study_hooks',
    'study_overrides', 'summarise', 'token_layout', 'train_linear_probe', 'upsampled_cross_entropy'
]

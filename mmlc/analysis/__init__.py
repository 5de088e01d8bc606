# Copyright (c) mmlc contributors. All rights reserved.
"""Analyses of learned features (paper §4.4, §4.6): correspondence accuracy and maps, few-shot transfer.

Pure functions and small data classes; the command-line tools live in ``tools/analysis/`` and the
online metric in :class:`mmlc.engine.hooks.CorrespondenceAccuracyHook`. scikit-learn (few-shot) and
matplotlib (pictures) are imported only where they are used.
"""
from .correspondence_eval import (FLIP_TEST_COLOUR, PairResult, ViewPair, evaluate_pairs, make_crop_pair,
                                  make_flip_pair, pair_seed, prepare_pairs, seeded, summarise)
from .features import (IMAGENET_MEAN, IMAGENET_STD, DenseFeatureExtractor, build_feature_extractor, eval_mode,
                       extractor_from_model, images_to_tensor)
from .few_shot import Episode, episode_accuracy, l2_normalise, mean_confidence_interval, sample_episodes
from .image_io import list_images, load_image, resize_centre_crop, resize_square
from .matching import best_match, containing_cell_index, cosine_similarity_maps, match_accuracy, mirrored_cell_index
from .weights import (infer_local_neck_config, infer_resnet_config, is_bare_resnet, load_checkpoint_state,
                      split_checkpoint_state)

__all__ = [
    'DenseFeatureExtractor', 'Episode', 'FLIP_TEST_COLOUR', 'IMAGENET_MEAN', 'IMAGENET_STD', 'PairResult',
    'ViewPair', 'best_match', 'build_feature_extractor', 'containing_cell_index', 'cosine_similarity_maps',
    'episode_accuracy', 'eval_mode', 'evaluate_pairs', 'extractor_from_model', 'images_to_tensor',
    'infer_local_neck_config', 'infer_resnet_config', 'is_bare_resnet', 'l2_normalise', 'list_images',
    'load_checkpoint_state', 'load_image', 'make_crop_pair', 'make_flip_pair', 'match_accuracy',
    'mean_confidence_interval', 'mirrored_cell_index', 'pair_seed', 'prepare_pairs', 'resize_centre_crop',
    'resize_square', 'sample_episodes', 'seeded', 'split_checkpoint_state', 'summarise'
]

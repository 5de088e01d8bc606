# Copyright (c) mmlc contributors. All rights reserved.
"""Few-shot transfer with frozen features (paper Table 7): N-way K-shot episodes, logistic regression.

Protocol: in each episode, draw ``n_way`` classes, then ``n_shot`` support and ``n_query`` query images
per class without overlap; fit a logistic-regression classifier on the L2-normalised support features
and report the query accuracy. The result is the mean over episodes with a 95% confidence interval
``1.96 * std / sqrt(episodes)``.
"""

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np


@dataclass
class Episode:
    """Indices into the data set and episode-local labels 0..n_way-1.

    Attributes:
        support (np.ndarray): (n_way * n_shot,) sample indices.
        support_labels (np.ndarray): (n_way * n_shot,) labels in [0, n_way).
        query (np.ndarray): (n_way * n_query,) sample indices.
        query_labels (np.ndarray): (n_way * n_query,) labels in [0, n_way).
    """

    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray


def sample_episodes(labels: Sequence[int],
                    n_way: int = 5,
                    n_shot: int = 5,
                    n_query: int = 15,
                    n_episodes: int = 600,
                    seed: int = 0) -> List[Episode]:
    """Draw few-shot episodes reproducibly.

    Only classes with at least ``n_shot + n_query`` samples take part.

    Args:
        labels (Sequence[int]): (N,) class of each sample.
        n_way (int): Classes per episode. Defaults to 5.
        n_shot (int): Support samples per class. Defaults to 5.
        n_query (int): Query samples per class. Defaults to 15.
        n_episodes (int): Number of episodes. Defaults to 600.
        seed (int): Seed of a private generator (the global state is untouched). Defaults to 0.

    Returns:
        list[Episode]: ``n_episodes`` episodes.
    """
    for name, value, low in (('n_way', n_way, 2), ('n_shot', n_shot, 1), ('n_query', n_query, 1), ('n_episodes',
                                                                                                   n_episodes, 1)):
        if not (isinstance(value, (int, np.integer)) and value >= low):
            raise ValueError(f'{name} must be an int >= {low}, got {value!r}')
    labels = np.asarray(labels)
    per_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    eligible = sorted(c for c, idx in per_class.items() if idx.size >= n_shot + n_query)
    if len(eligible) < n_way:
        raise ValueError(f'{n_way}-way {n_shot}-shot with {n_query} queries needs {n_way} classes with '
                         f'>= {n_shot + n_query} samples each; only {len(eligible)} have that')
    rng = np.random.default_rng(seed)
    episodes = []
    for _ in range(n_episodes):
        classes = rng.choice(eligible, size=n_way, replace=False)
        support, query = [], []
        for cls in classes:
            picked = rng.choice(per_class[cls], size=n_shot + n_query, replace=False)
            support.append(picked[:n_shot])
            query.append(picked[n_shot:])
        episodes.append(
            Episode(
                support=np.concatenate(support),
                support_labels=np.repeat(np.arange(n_way), n_shot),
                query=np.concatenate(query),
                query_labels=np.repeat(np.arange(n_way), n_query)))
    return episodes


def l2_normalise(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm.

    (N, D) -> (N, D); a zero row stays zero.
    """
    features = np.asarray(features, dtype=np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), eps)


def episode_accuracy(features: np.ndarray, episode: Episode, C: float = 1.0, max_iter: int = 1000) -> float:
    """Fit logistic regression on the support set and score the query set.

    Args:
        features (np.ndarray): (N, D) features of the whole data set (already L2-normalised).
        episode (Episode): The episode.
        C (float): Inverse regularisation strength of scikit-learn's ``LogisticRegression``.
            Defaults to 1.0 (scikit-learn's default).
        max_iter (int): Solver iterations. Defaults to 1000.

    Returns:
        float: Query accuracy in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(C=C, max_iter=max_iter)
    clf.fit(features[episode.support], episode.support_labels)
    return float((clf.predict(features[episode.query]) == episode.query_labels).mean())


def mean_confidence_interval(accuracies: Sequence[float], z: float = 1.96) -> Tuple[float, float]:
    """Mean and the half-width of its normal-approximation confidence interval.

    Args:
        accuracies (Sequence[float]): Per-episode accuracies.
        z (float): Normal quantile; 1.96 gives 95%. Defaults to 1.96.

    Returns:
        tuple[float, float]: ``(mean, z * std / sqrt(n))`` with the sample std (ddof=1); the half-width
        is 0 for a single episode.
    """
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.size == 0:
        raise ValueError('no accuracies')
    half = z * acc.std(ddof=1) / np.sqrt(acc.size) if acc.size > 1 else 0.0
    return float(acc.mean()), float(half)

# Copyright (c) mmlc contributors. All rights reserved.
"""Dense probes of frozen features on labelled segmentation data: a linear (1x1 conv) classifier and
Hummingbird-style nearest-neighbour label retrieval (Balažević et al., "Towards In-context Scene
Understanding", NeurIPS 2023), scored by mIoU as mmseg's ``IoUMetric`` does.

Everything here works on tensors already in memory: feature maps (N, C, h, w) from
:class:`~mmlc.analysis.DenseFeatureExtractor` and label maps (H, W) of class indices with an ignore
index. Class-score maps (N, K, h, w) of either probe are upsampled bilinearly to each label's own size,
arg-maxed and accumulated in one confusion matrix, from which IoU, per-class accuracy and aAcc follow.
The command-line tool is ``tools/analysis/dense_probe.py``; the protocol is described in
``docs/dense_probe.md``.
"""

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: mmseg's default ignore index.
IGNORE_INDEX = 255


# --------------------------------------------------------------------------------------------------
# Metric
# --------------------------------------------------------------------------------------------------
@dataclass
class SegmentationScores:
    """IoU, per-class accuracy and overall pixel accuracy of one evaluation (mmseg's ``IoUMetric``).

    Attributes:
        iou (np.ndarray): (K,) intersection over union per class; NaN for a class absent from both the
            prediction and the ground truth (its union is empty).
        acc (np.ndarray): (K,) per-class accuracy (recall); NaN for a class absent from the ground truth.
        aacc (float): Correct / all non-ignored pixels (NaN if there are none).
    """

    iou: np.ndarray
    acc: np.ndarray
    aacc: float

    @property
    def miou(self) -> float:
        """Mean IoU over the classes whose IoU is defined (NaN if none is)."""
        return _nanmean(self.iou)

    @property
    def macc(self) -> float:
        """Mean per-class accuracy over the classes present in the ground truth (NaN if none is)."""
        return _nanmean(self.acc)


def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries, NaN (without numpy's empty-slice warning) if there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float('nan')


def confusion_matrix(pred: Tensor, label: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Pixel counts of (ground truth, prediction) pairs, ignoring pixels labelled ``ignore_index``.

    Args:
        pred (Tensor): (...) predicted class indices in [0, K).
        label (Tensor): (...) ground-truth class indices in [0, K), or ``ignore_index``; same shape.
        num_classes (int): K.
        ignore_index (int): Label value that is not scored. Defaults to 255.

    Returns:
        Tensor: (K, K) int64, ``conf[g, p]`` = number of pixels of class g predicted as p.
    """
    if pred.shape != label.shape:
        raise ValueError(f'prediction {tuple(pred.shape)} and label {tuple(label.shape)} differ in shape')
    label = label.reshape(-1).long()
    pred = pred.reshape(-1).long()
    keep = label != ignore_index
    label, pred = label[keep], pred[keep]
    if label.numel() and (label.min() < 0 or label.max() >= num_classes):
        raise ValueError(f'label values must be in [0, {num_classes}) or {ignore_index}')
    if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f'predicted classes must be in [0, {num_classes})')
    counts = torch.bincount(label * num_classes + pred, minlength=num_classes * num_classes)  # (K * K,)
    return counts.reshape(num_classes, num_classes).cpu()  # (K, K): rows = ground truth


def scores_from_confusion(conf: Tensor) -> SegmentationScores:
    """IoU, accuracy and aAcc from a confusion matrix, with mmseg's conventions for empty classes.

    With I = diag(conf), G = row sums (ground-truth area), P = column sums (predicted area):
    IoU = I / (G + P - I), Acc = I / G, aAcc = sum(I) / sum(G); a zero denominator gives NaN.

    Args:
        conf (Tensor): (K, K) counts, rows = ground truth, columns = prediction.

    Returns:
        SegmentationScores: Scores in [0, 1].
    """
    conf = conf.double()
    inter = conf.diagonal()  # (K,)
    area_label = conf.sum(dim=1)  # (K,)
    area_pred = conf.sum(dim=0)  # (K,)
    union = area_label + area_pred - inter  # (K,)
    nan = torch.full_like(inter, float('nan'))
    iou = torch.where(union > 0, inter / union.clamp(min=1), nan)
    acc = torch.where(area_label > 0, inter / area_label.clamp(min=1), nan)
    total = float(area_label.sum())
    aacc = float(inter.sum()) / total if total > 0 else float('nan')
    return SegmentationScores(iou=iou.numpy(), acc=acc.numpy(), aacc=aacc)


def check_label_values(label: np.ndarray,
                       num_classes: int,
                       ignore_index: int = IGNORE_INDEX,
                       name: str = 'label') -> None:
    """Raise a ValueError naming ``name`` if a label map holds a value that is neither a class nor ignored.

    Args:
        label (np.ndarray): (H, W) integer label map.
        num_classes (int): K; valid values are 0..K-1 and ``ignore_index``.
        ignore_index (int): Defaults to 255.
        name (str): What to call the map in the message (its path). Defaults to 'label'.
    """
    values = np.unique(np.asarray(label))
    bad = values[((values < 0) | (values >= num_classes)) & (values != ignore_index)]
    if bad.size:
        raise ValueError(f'{name}: label values {bad[:10].tolist()} are not class indices 0..{num_classes - 1} '
                         f'nor the ignore index {ignore_index} (wrong --num-classes / class list, or a colour '
                         'palette instead of class indices?)')


# --------------------------------------------------------------------------------------------------
# Labels on the feature grid / at a training resolution
# --------------------------------------------------------------------------------------------------
def resize_labels(labels: Sequence[Tensor], size: Tuple[int, int]) -> Tensor:
    """Resize label maps with centre-aligned nearest-neighbour sampling and stack them.

    Args:
        labels (Sequence[Tensor]): N maps, each (H_i, W_i) integer.
        size (tuple[int, int]): Output (T_h, T_w).

    Returns:
        Tensor: (N, T_h, T_w) int64.
    """
    out = [
        F.interpolate(lab[None, None].float(), size=tuple(size), mode='nearest-exact')[0, 0]  # (T_h, T_w)
        for lab in labels
    ]
    return torch.stack(out).long()


def patch_label_histograms(label: Tensor,
                           grid: Tuple[int, int],
                           num_classes: int,
                           ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Per feature cell, how many of its pixels belong to each class (ignored pixels not counted).

    The label map is split into the ``h x w`` cells of the feature grid; a pixel belongs to the cell that
    contains its centre, i.e. row ``floor((y + 0.5) * h / H)`` (and likewise for columns), so each pixel
    is counted exactly once even when H is not a multiple of h.

    Args:
        label (Tensor): (H, W) integer label map.
        grid (tuple[int, int]): Feature grid (h, w).
        num_classes (int): K.
        ignore_index (int): Defaults to 255.

    Returns:
        Tensor: (h, w, K) float32 pixel counts.
    """
    gh, gw = grid
    height, width = label.shape
    rows = ((2 * torch.arange(height) + 1) * gh) // (2 * height)  # (H,) cell row of each pixel row
    cols = ((2 * torch.arange(width) + 1) * gw) // (2 * width)  # (W,)
    cell = (rows[:, None] * gw + cols[None, :]).reshape(-1)  # (H * W,)
    label = label.reshape(-1).long().cpu()
    keep = label != ignore_index
    counts = torch.bincount(cell[keep] * num_classes + label[keep], minlength=gh * gw * num_classes)
    return counts.reshape(gh, gw, num_classes).float()  # (h, w, K)


# --------------------------------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------------------------------
def channel_stats(features: Tensor, eps: float = 1e-6) -> Tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation over all images and positions.

    Args:
        features (Tensor): (N, C, h, w).
        eps (float): Lower bound of the std (a constant channel is left unscaled). Defaults to 1e-6.

    Returns:
        tuple[Tensor, Tensor]: mean (C,), std (C,).
    """
    flat = features.transpose(0, 1).reshape(features.shape[1], -1).double()  # (C, N * h * w)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, unbiased=False)
    return mean.float(), torch.where(std > eps, std, torch.ones_like(std)).float()


def standardise(features: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """(N, C, h, w) -> (N, C, h, w) with each channel shifted by ``mean`` and divided by ``std`` (C,)."""
    return (features - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def linear_logits(features: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """A 1x1 convolution: class scores at every feature cell.

    Args:
        features (Tensor): (N, C, h, w).
        weight (Tensor): (K, C).
        bias (Tensor): (K,).

    Returns:
        Tensor: (N, K, h, w).
    """
    return torch.einsum('nchw,kc->nkhw', features, weight) + bias.view(1, -1, 1, 1)


def upsampled_cross_entropy(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_INDEX) -> Tuple[Tensor, int]:
    """Summed cross-entropy of logits upsampled bilinearly to the label size.

    Args:
        logits (Tensor): (B, K, h, w).
        labels (Tensor): (B, T_h, T_w) int64 with ``ignore_index`` for unscored pixels.
        ignore_index (int): Defaults to 255.

    Returns:
        tuple[Tensor, int]: The loss summed over the scored pixels (a scalar), and their number.
    """
    up = F.interpolate(logits, size=labels.shape[-2:], mode='bilinear', align_corners=False)  # (B, K, T_h, T_w)
    loss = F.cross_entropy(up, labels, ignore_index=ignore_index, reduction='sum')
    return loss, int((labels != ignore_index).sum())


@dataclass
class LinearProbe:
    """A trained 1x1-conv classifier and its training record.

    Attributes:
        weight (Tensor): (K, C).
        bias (Tensor): (K,).
        lr (float): Peak learning rate it was trained with.
        losses (list[float]): Mean cross-entropy per scored pixel of each epoch.
        converged (bool): The convergence check (see :func:`train_linear_probe`) passed.
    """

    weight: Tensor
    bias: Tensor
    lr: float
    losses: List[float] = field(default_factory=list)
    converged: bool = False

    def logits(self, features: Tensor) -> Tensor:
        """(N, C, h, w) -> (N, K, h, w) class scores."""
        return linear_logits(features, self.weight.to(features.device), self.bias.to(features.device))


def loss_plateaued(losses: Sequence[float], window: Optional[int] = None, tol: float = 0.01) -> bool:
    """Convergence check: the epoch loss fell by less than ``tol`` over the last ``window`` epochs.

    An absolute tolerance (nats per pixel) rather than a relative one, because on separable data the
    cross-entropy keeps halving towards 0 while the predictions no longer change.

    Args:
        losses (Sequence[float]): Per-epoch mean losses.
        window (int, optional): Epochs to look back. Defaults to None (a fifth of the epochs, at least 1).
        tol (float): Largest drop still counted as a plateau. Defaults to 0.01.

    Returns:
        bool: False too when there are not ``window + 1`` epochs or the loss is not finite.
    """
    window = max(1, len(losses) // 5) if window is None else window
    if len(losses) < window + 1 or not all(math.isfinite(v) for v in losses[-window - 1:]):
        return False
    return losses[-window - 1] - losses[-1] < tol


def train_linear_probe(features: Tensor,
                       labels: Tensor,
                       num_classes: int,
                       lr: float,
                       epochs: int = 40,
                       batch_size: int = 16,
                       weight_decay: float = 0.,
                       seed: int = 0,
                       ignore_index: int = IGNORE_INDEX,
                       tol: float = 0.01,
                       on_epoch: Optional[Callable[[int, float], None]] = None) -> LinearProbe:
    """Fit a 1x1-conv classifier on frozen features by mini-batch Adam with a cosine schedule.

    The weights start at zero, so for a given seed (which fixes the mini-batch order) the result is
    deterministic. Each step upsamples the batch's logits bilinearly to the label size and minimises the
    mean cross-entropy over its scored pixels; the learning rate decays from ``lr`` to 0 along a cosine
    over all ``epochs * ceil(N / batch_size)`` steps. The problem is convex in (weight, bias).

    Args:
        features (Tensor): (N, C, h, w), e.g. standardised with :func:`channel_stats`.
        labels (Tensor): (N, T_h, T_w) int64 training labels.
        num_classes (int): K.
        lr (float): Peak learning rate.
        epochs (int): Passes over the images. Defaults to 40.
        batch_size (int): Images per step. Defaults to 16.
        weight_decay (float): Adam's L2 penalty. Defaults to 0.
        seed (int): Seed of the mini-batch order (a private generator). Defaults to 0.
        ignore_index (int): Defaults to 255.
        tol (float): Tolerance of :func:`loss_plateaued`. Defaults to 0.01.
        on_epoch (callable, optional): Called as ``on_epoch(epoch, mean_loss)`` after each epoch.

    Returns:
        LinearProbe: With ``converged`` from :func:`loss_plateaued` over the last fifth of the epochs
        (a one-sided check: a loss still falling by ``tol`` while the rate is below 10% of its peak
        means the budget was too small; the reverse does not prove convergence).
    """
    if features.shape[0] != labels.shape[0] or features.shape[0] == 0:
        raise ValueError(f'need as many label maps as feature maps (> 0), got {labels.shape[0]} and '
                         f'{features.shape[0]}')
    if lr <= 0 or epochs < 1 or batch_size < 1:
        raise ValueError(f'need lr > 0, epochs >= 1, batch_size >= 1; got {lr}, {epochs}, {batch_size}')
    num, channels = features.shape[:2]
    device = features.device
    labels = labels.to(device).long()
    if not bool((labels != ignore_index).any()):
        raise ValueError('every training pixel is ignored: nothing to learn')
    weight = torch.zeros(num_classes, channels, device=device, requires_grad=True)
    bias = torch.zeros(num_classes, device=device, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(num / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    with torch.enable_grad():
        for epoch in range(epochs):
            order = torch.randperm(num, generator=generator)
            total, count = 0., 0
            for start in range(0, num, batch_size):
                idx = order[start:start + batch_size].to(device)
                loss_sum, valid = upsampled_cross_entropy(
                    linear_logits(features[idx], weight, bias), labels[idx], ignore_index)
                optimizer.zero_grad()
                if valid:  # a batch of only ignored pixels has no gradient
                    (loss_sum / valid).backward()
                    optimizer.step()
                scheduler.step()
                total += float(loss_sum.detach())
                count += valid
            losses.append(total / count if count else float('nan'))
            if on_epoch is not None:
                on_epoch(epoch, losses[-1])
    return LinearProbe(
        weight=weight.detach(),
        bias=bias.detach(),
        lr=float(lr),
        losses=losses,
        converged=loss_plateaued(losses, tol=tol))


# --------------------------------------------------------------------------------------------------
# Scoring class-score maps
# --------------------------------------------------------------------------------------------------
def predict_label_map(scores: Tensor, size: Tuple[int, int]) -> Tensor:
    """Upsample one class-score map bilinearly and take the best class per pixel.

    Args:
        scores (Tensor): (K, h, w) logits or class probabilities.
        size (tuple[int, int]): Label size (H, W).

    Returns:
        Tensor: (H, W) int64.
    """
    up = F.interpolate(scores[None].float(), size=tuple(size), mode='bilinear', align_corners=False)  # (1, K, H, W)
    return up[0].argmax(dim=0)


def evaluate_score_maps(scores: Tensor,
                        labels: Sequence[Tensor],
                        num_classes: int,
                        ignore_index: int = IGNORE_INDEX) -> SegmentationScores:
    """Score class-score maps against label maps of any sizes, each at its own resolution.

    Args:
        scores (Tensor): (N, K, h, w).
        labels (Sequence[Tensor]): N maps, each (H_i, W_i).
        num_classes (int): K.
        ignore_index (int): Defaults to 255.

    Returns:
        SegmentationScores: Over all pixels of all images (one confusion matrix, as mmseg sums areas).
    """
    if len(labels) != scores.shape[0]:
        raise ValueError(f'{scores.shape[0]} score maps but {len(labels)} label maps')
    conf = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for score, label in zip(scores, labels):
        pred = predict_label_map(score, tuple(label.shape))  # (H_i, W_i)
        conf += confusion_matrix(pred.cpu(), label.cpu(), num_classes, ignore_index)
    return scores_from_confusion(conf)


# --------------------------------------------------------------------------------------------------
# Learning-rate sweep
# --------------------------------------------------------------------------------------------------
def split_indices(num: int, held_fraction: float, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(num)`` into a fitting part and a held-out part.

    Args:
        num (int): Number of items (>= 2).
        held_fraction (float): Fraction held out, in (0, 1); rounded, but at least 1 item each side.
        seed (int): Defaults to 0.

    Returns:
        tuple[np.ndarray, np.ndarray]: Sorted fit indices and held-out indices.
    """
    if not 0 < held_fraction < 1:
        raise ValueError(f'the held-out fraction must be in (0, 1), got {held_fraction}')
    if num < 2:
        raise ValueError(f'cannot hold out part of {num} training image(s); need at least 2')
    held = min(num - 1, max(1, int(round(held_fraction * num))))
    perm = np.random.default_rng(seed).permutation(num)
    return np.sort(perm[held:]), np.sort(perm[:held])


@dataclass
class SweepResult:
    """Held-out scores of a learning-rate sweep.

    Attributes:
        best_lr (float): The lr with the highest held-out mIoU (the first listed on a tie).
        lrs (list[float]): The lrs tried, in order.
        scores (list[SegmentationScores]): Held-out scores, one per lr.
        probes (list[LinearProbe]): The classifiers fitted on the fitting part.
    """

    best_lr: float
    lrs: List[float]
    scores: List[SegmentationScores]
    probes: List[LinearProbe]


def lr_sweep(fit_features: Tensor, fit_labels: Tensor, held_features: Tensor, held_labels: Sequence[Tensor],
             num_classes: int, lrs: Sequence[float], **train_kwargs) -> SweepResult:
    """Train one probe per learning rate on the fitting part and pick the best by held-out mIoU.

    Args:
        fit_features (Tensor): (N_f, C, h, w).
        fit_labels (Tensor): (N_f, T_h, T_w) training labels.
        held_features (Tensor): (N_h, C, h, w).
        held_labels (Sequence[Tensor]): N_h label maps (H_i, W_i), scored at their own size.
        num_classes (int): K.
        lrs (Sequence[float]): Learning rates to try.
        **train_kwargs: Passed to :func:`train_linear_probe` (epochs, batch_size, seed, ...).

    Returns:
        SweepResult: ValueError if the held-out part has no scored pixel (no lr can be chosen).
    """
    if not lrs:
        raise ValueError('no learning rates to sweep')
    ignore_index = train_kwargs.get('ignore_index', IGNORE_INDEX)
    probes, scores = [], []
    for lr in lrs:
        probe = train_linear_probe(fit_features, fit_labels, num_classes, lr, **train_kwargs)
        with torch.no_grad():
            held_scores = evaluate_score_maps(probe.logits(held_features), held_labels, num_classes, ignore_index)
        probes.append(probe)
        scores.append(held_scores)
    mious = [s.miou for s in scores]
    if all(math.isnan(m) for m in mious):
        raise ValueError('the held-out images have no scored pixel: cannot choose a learning rate')
    best = max(range(len(lrs)), key=lambda i: (-math.inf if math.isnan(mious[i]) else mious[i], -i))
    return SweepResult(best_lr=float(lrs[best]), lrs=[float(v) for v in lrs], scores=scores, probes=probes)


# --------------------------------------------------------------------------------------------------
# Nearest-neighbour label retrieval (Hummingbird)
# --------------------------------------------------------------------------------------------------
def build_memory_bank(features: Tensor,
                      labels: Sequence[Tensor],
                      num_classes: int,
                      ignore_index: int = IGNORE_INDEX,
                      max_size: Optional[int] = None,
                      seed: int = 0) -> Tuple[Tensor, Tensor]:
    """Memory bank of L2-normalised training patch features and their class distributions.

    A patch's label is the class histogram of the label pixels in its cell
    (:func:`patch_label_histograms`), normalised to sum to 1 over the scored pixels; patches whose cell
    is entirely ignored are left out. Above ``max_size`` patches, a seeded uniform subset is kept.

    Args:
        features (Tensor): (N, C, h, w) training features.
        labels (Sequence[Tensor]): N label maps (H_i, W_i), at their own resolution.
        num_classes (int): K.
        ignore_index (int): Defaults to 255.
        max_size (int, optional): Cap on the number of patches. Defaults to None (no cap).
        seed (int): Seed of the subsampling. Defaults to 0.

    Returns:
        tuple[Tensor, Tensor]: keys (M, C) unit-norm, values (M, K) rows summing to 1.
    """
    num, channels, gh, gw = features.shape
    hists = torch.stack([patch_label_histograms(lab, (gh, gw), num_classes, ignore_index)
                         for lab in labels]).reshape(num * gh * gw, num_classes)  # (N * h * w, K)
    keys = features.permute(0, 2, 3, 1).reshape(num * gh * gw, channels)  # (N * h * w, C)
    valid = hists.sum(dim=1) > 0
    keys, hists = keys[valid.to(keys.device)], hists[valid]
    if keys.shape[0] == 0:
        raise ValueError('no training patch has a scored pixel: the memory bank is empty')
    if max_size is not None and keys.shape[0] > max_size:
        keep = torch.randperm(keys.shape[0], generator=torch.Generator().manual_seed(seed))[:max_size]
        keep = keep.sort().values
        keys, hists = keys[keep.to(keys.device)], hists[keep]
    values = hists / hists.sum(dim=1, keepdim=True)  # (M, K)
    return F.normalize(keys.float(), dim=1), values.to(keys.device)


def knn_class_scores(queries: Tensor,
                     keys: Tensor,
                     values: Tensor,
                     k: int = 30,
                     temperature: float = 0.02,
                     chunk_size: Optional[int] = None) -> Tensor:
    """Class distribution of each query from its k most cosine-similar memory entries.

    Hummingbird's retrieval: ``scores = softmax(s_topk / temperature) @ values_topk`` with s the cosine
    similarity (a cross-attention restricted to the k nearest neighbours).

    Args:
        queries (Tensor): (Q, C) features (normalised here).
        keys (Tensor): (M, C) unit-norm memory features.
        values (Tensor): (M, K) memory class distributions.
        k (int): Neighbours; clipped to M. Defaults to 30.
        temperature (float): Softmax temperature. Defaults to 0.02.
        chunk_size (int, optional): Queries per similarity block. Defaults to None (about 2^25 / M, so a
            block of similarities stays near 128 MB).

    Returns:
        Tensor: (Q, K), rows summing to 1.
    """
    if k < 1 or temperature <= 0:
        raise ValueError(f'need k >= 1 and temperature > 0, got {k} and {temperature}')
    k = min(k, keys.shape[0])
    chunk_size = chunk_size or max(1, 2**25 // max(1, keys.shape[0]))
    queries = F.normalize(queries.float(), dim=1)
    out = []
    for start in range(0, queries.shape[0], chunk_size):
        sims = queries[start:start + chunk_size] @ keys.T  # (q, M)
        top_sims, top_idx = sims.topk(k, dim=1)  # (q, k)
        attn = torch.softmax(top_sims / temperature, dim=1)  # (q, k)
        out.append(torch.einsum('qk,qkc->qc', attn, values[top_idx]))  # (q, K)
    return torch.cat(out)


def knn_score_maps(features: Tensor,
                   keys: Tensor,
                   values: Tensor,
                   k: int = 30,
                   temperature: float = 0.02,
                   chunk_size: Optional[int] = None) -> Tensor:
    """:func:`knn_class_scores` for every cell of feature maps.

    Args:
        features (Tensor): (N, C, h, w) query features.
        keys (Tensor): (M, C) unit-norm memory features.
        values (Tensor): (M, K) memory class distributions.
        k (int): Defaults to 30.
        temperature (float): Defaults to 0.02.
        chunk_size (int, optional): See :func:`knn_class_scores`.

    Returns:
        Tensor: (N, K, h, w) class distributions.
    """
    num, channels, gh, gw = features.shape
    queries = features.permute(0, 2, 3, 1).reshape(-1, channels)  # (N * h * w, C)
    scores = knn_class_scores(queries, keys, values, k, temperature, chunk_size)  # (N * h * w, K)
    return scores.reshape(num, gh, gw, -1).permute(0, 3, 1, 2)  # (N, K, h, w)


def scores_as_dict(scores: SegmentationScores, class_names: Sequence[str]) -> Dict[str, object]:
    """A JSON-friendly summary: fractions in [0, 1], ``None`` where a score is undefined (NaN).

    Args:
        scores (SegmentationScores): The evaluation.
        class_names (Sequence[str]): K names.

    Returns:
        dict: ``mIoU``, ``mAcc``, ``aAcc`` and ``per_class`` (a list of ``{name, IoU, Acc}``).
    """

    def num(value: float) -> Optional[float]:
        return None if math.isnan(value) else float(value)

    if len(class_names) != len(scores.iou):
        raise ValueError(f'{len(class_names)} class names for {len(scores.iou)} classes')
    return dict(
        mIoU=num(scores.miou),
        mAcc=num(scores.macc),
        aAcc=num(scores.aacc),
        per_class=[
            dict(name=str(name), IoU=num(iou), Acc=num(acc))
            for name, iou, acc in zip(class_names, scores.iou, scores.acc)
        ])

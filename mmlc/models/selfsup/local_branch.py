# Copyright (c) mmlc contributors. All rights reserved.
"""The local (LC-loss) branch that a two-view self-supervised algorithm composes."""

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..losses.local_losses import valid_and_safe_grid
from ..utils import correspondence_grid, effective_rank, embedding_std, inverse_correspondence_grid

# Dense features as a caller has them: a backbone's output tuple of (B, C_s, h_s, w_s) maps, or one tensor that the
# local neck reads, e.g. a (B, C, h, w) map (a ViT's patch tokens reshaped by the caller).
DenseFeats = Union[Tensor, Sequence[Tensor]]
Records = Tuple[Tensor, Tensor, Tensor]

RECORD_KEYS = ('sc_box', 'sc_flip', 'src_shape')


def check_alpha(alpha: float) -> float:
    """The weight of the local loss, ``loss = (1 - alpha) * L_global + alpha * L_local`` (Equation 5), validated.

    Args:
        alpha (float): A number in [0, 1] (not a bool).

    Returns:
        float: ``alpha`` as a float.
    """
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 <= alpha <= 1):
        raise ValueError(f'alpha must be a number in [0, 1], got {alpha!r}')
    return float(alpha)


def level_configs(local_neck: Union[dict, Sequence[dict]],
                  local_weights: Optional[Sequence[float]] = None) -> Tuple[List[dict], List[float]]:
    """Validate the local neck config(s) and their weights.

    Args:
        local_neck (dict | list[dict]): One neck config, or one per level.
        local_weights (Sequence[float], optional): One non-negative weight per neck. Defaults to ``1 / L``
            for L necks (1 for a single neck).

    Returns:
        tuple[list[dict], list[float]]: The neck configs and their weights, one of each per level.
    """
    necks = list(local_neck) if isinstance(local_neck, (list, tuple)) else [local_neck]
    if not necks:
        raise ValueError('local_neck must be a config or a non-empty list of configs')
    if local_weights is None:
        local_weights = [1. / len(necks)] * len(necks)
    if len(local_weights) != len(necks) or any(not (w >= 0) for w in local_weights):
        raise ValueError(f'local_weights must hold one non-negative weight per local neck '
                         f'({len(necks)}), got {local_weights!r}')
    return necks, [float(w) for w in local_weights]


def sample_records(data_samples: Sequence[DataSample]) -> Records:
    """Stack the crop records that :class:`~mmlc.datasets.PairedCorrespondenceTransform` put in each sample.

    Args:
        data_samples (list[DataSample]): Each carries ``sc_box`` (4,), ``sc_flip`` and ``src_shape`` (H, W, ...), as
            data fields (mmpretrain's ``DataSample``) or metainfo (MMSelfSup's ``SelfSupDataSample``).

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``sc_box`` (B, 4) fp32, ``sc_flip`` (B,) bool, ``src_shape`` (B, 2).
    """
    for key in RECORD_KEYS:
        if any(key not in s for s in data_samples):
            raise KeyError(f'a data sample lacks {key!r}: the pipeline must end with PairedCorrespondenceTransform '
                           f'and PackInputs(algorithm_keys={list(RECORD_KEYS)}) (mmpretrain) or '
                           f'PackSelfSupInputs(meta_keys={list(RECORD_KEYS)}) (MMSelfSup)')
    sc_box = torch.stack([torch.as_tensor(s.sc_box, dtype=torch.float32) for s in data_samples])  # (B, 4)
    sc_flip = torch.as_tensor([bool(s.sc_flip) for s in data_samples])  # (B,)
    src_shape = torch.stack([torch.as_tensor(s.src_shape[:2]) for s in data_samples])  # (B, 2)
    return sc_box, sc_flip, src_shape


def records_grid(records: Records, feat_size: Sequence[int], device: torch.device, inverse: bool = False) -> Tensor:
    """The (B, h, w, 2) grid of the I_c cells in I_sc, or with ``inverse`` of the I_sc cells in I_c."""
    fn = inverse_correspondence_grid if inverse else correspondence_grid
    return fn(*records, feat_size).to(device)


def _as_tuple(feats: DenseFeats) -> Tuple[Tensor, ...]:
    """A single (B, C, h, w) map becomes a 1-tuple, so a neck's ``in_index`` of 0 or -1 reads it."""
    return (feats, ) if isinstance(feats, Tensor) else tuple(feats)


class LocalBranch:
    """The local branch of LC-loss (Islam et al., WACV 2023), composed by any two-view algorithm.

    It owns the online local neck(s), their EMA target twin, the local loss head and the correspondence read
    from the data samples. Given the online dense features of the cropped view I_sc and the target dense
    features of the whole view I_c, :meth:`loss` returns the LC-loss (Eq. 2-4; not yet weighted by alpha)
    and detached diagnostics. The caller keeps its own global loss and decides when to call
    :meth:`update_target`, typically next to its own target-network update.

    Why a plain object and not an ``nn.Module``: a submodule ``local_branch`` would prefix every parameter
    (``local_branch.local_neck.*``) and orphan the existing checkpoints. Instead the branch registers its
    modules on the owning algorithm under the established names ``local_neck`` (one neck, or an
    ``nn.ModuleList`` for several levels: ``local_neck.<level>.*``), ``local_head`` and ``target_local_neck``
    (a :class:`~mmpretrain.models.utils.CosineEMA`), in that order, and reads them back from the owner at
    every call. So the owner's state dict, ``.to()``, DDP wrapping, SyncBN conversion and ``deepcopy`` (whose
    memo maps the branch's reference to the copied owner) all see ordinary submodules; the branch itself
    holds only hyper-parameters.

    Beyond the paper (both off by default): several levels, each neck reading its stage from the feature
    tuple through its ``in_index``, the loss a weighted sum over levels; and a symmetric LC-loss that adds
    the target branch on I_sc against the online branch on I_c through the inverse correspondence,
    averaging the two directions.

    Args:
        owner (nn.Module): The algorithm that holds the modules; must not already have ``local_neck``,
            ``local_head`` or ``target_local_neck``.
        local_neck (dict | list[dict]): Local projector config(s), e.g. ``LocalProjectionNeck``.
        local_head (dict): Local loss head config, e.g. ``LCLossHead``.
        local_weights (Sequence[float], optional): Weight of each level's loss; one entry per local neck.
            Defaults to 1 for a single neck and ``1 / L`` for L necks.
        symmetric (bool): Also apply LC-loss from I_sc (target) to I_c (online). Defaults to False.
        momentum (float): ``CosineEMA`` start momentum of the target twin, the weight of the *new* parameters
            (mmpretrain's convention: the paper's EMA 0.996 -> 1 is 0.004). Defaults to 0.004.
        end_momentum (float): ``CosineEMA`` end momentum. Defaults to 0.

    Example:
        >>> # in an algorithm's __init__, after super().__init__(...):
        >>> self.local_branch = LocalBranch(self, local_neck, local_head, momentum=base_momentum)
        >>> # in its loss(), with the target update next to the algorithm's own:
        >>> self.local_branch.update_target()
        >>> loss_local, logs = self.local_branch.loss(online_feats_sc, target_feats_c, data_samples)
    """

    MODULE_NAMES = ('local_neck', 'local_head', 'target_local_neck')

    def __init__(self,
                 owner: nn.Module,
                 local_neck: Union[dict, List[dict]],
                 local_head: dict,
                 local_weights: Optional[Sequence[float]] = None,
                 symmetric: bool = False,
                 momentum: float = 0.004,
                 end_momentum: float = 0.) -> None:
        if not isinstance(owner, nn.Module):
            raise TypeError(f'owner must be an nn.Module, got {type(owner).__name__}')
        taken = [name for name in self.MODULE_NAMES if hasattr(owner, name)]
        if taken:
            raise ValueError(f'{type(owner).__name__} already has {taken}; LocalBranch registers these names')
        if not (isinstance(momentum, (int, float)) and 0 <= momentum <= 1):
            raise ValueError(f'momentum must be a number in [0, 1], got {momentum!r}')
        necks, self.local_weights = level_configs(local_neck, local_weights)
        self.symmetric = bool(symmetric)
        self._owner = owner
        # One neck keeps the plain `local_neck.*` parameter names; several become `local_neck.<level>.*`.
        owner.local_neck = (
            MODELS.build(necks[0]) if len(necks) == 1 else nn.ModuleList(MODELS.build(cfg) for cfg in necks))
        owner.local_head = MODELS.build(local_head)
        owner.target_local_neck = CosineEMA(owner.local_neck, momentum=momentum, end_momentum=end_momentum)

    @property
    def local_neck(self) -> nn.Module:
        """The online local neck (an ``nn.ModuleList`` for several levels)."""
        return self._owner.local_neck

    @property
    def target_local_neck(self) -> CosineEMA:
        """The EMA twin of :attr:`local_neck`; its ``.module`` is the averaged neck."""
        return self._owner.target_local_neck

    @property
    def local_head(self) -> nn.Module:
        """The local loss head (``loss(target, online, grid)``)."""
        return self._owner.local_head

    @property
    def num_levels(self) -> int:
        return len(self.local_weights)

    def levels(self) -> List[Tuple[nn.Module, nn.Module, float]]:
        """(online neck, target neck, weight) for each level."""
        online, target = self.local_neck, self.target_local_neck.module
        if not isinstance(online, nn.ModuleList):
            online, target = [online], [target]
        return list(zip(online, target, self.local_weights))

    @torch.no_grad()
    def update_target(self) -> None:
        """One ``CosineEMA`` step of the target twin towards the online neck(s) (the first call copies them)."""
        self.target_local_neck.update_parameters(self.local_neck)

    def correspondence(self,
                       data_samples: Sequence[DataSample],
                       feat_size: Sequence[int],
                       device: torch.device,
                       inverse: bool = False) -> Tensor:
        """The correspondence of a feature map's cells, from the data samples' crop records.

        Args:
            data_samples (list[DataSample]): Each carries ``sc_box``, ``sc_flip``, ``src_shape``.
            feat_size (Sequence[int]): (h, w) of the map whose cell centres are mapped.
            device (torch.device): Where the grid goes.
            inverse (bool): Map I_sc's cells into I_c instead of I_c's into I_sc. Defaults to False.

        Returns:
            Tensor: (B, h, w, 2) ``grid_sample`` points; outside [-1, 1] where a cell has no counterpart.
        """
        return records_grid(sample_records(data_samples), feat_size, device, inverse)

    def _direction_loss(self, online_neck: nn.Module, target_neck: nn.Module, online_feats: Tuple[Tensor, ...],
                        target_feats: Tuple[Tensor,
                                            ...], records: Records, inverse: bool) -> Tuple[Tensor, Tensor, Tensor]:
        """LC-loss of the target neck on one view against the online neck on the other.

        ``inverse=False``: target on I_c, online on I_sc (the paper's direction); ``True``: the reverse.

        Returns:
            tuple: the scalar loss, its (B, Ht, Wt, 2) grid and the (B, C_l, Ho, Wo) online embeddings.
        """
        online = online_neck(online_feats)[0]  # (B, C_l, Ho, Wo)
        with torch.no_grad():
            target = target_neck(target_feats)[0]  # (B, C_l, Ht, Wt)
        grid = records_grid(records, target.shape[-2:], target.device, inverse)  # (B, Ht, Wt, 2)
        return self.local_head.loss(target, online, grid), grid, online

    def loss(self,
             online_sc: DenseFeats,
             target_c: DenseFeats,
             data_samples: Sequence[DataSample],
             online_c: Optional[DenseFeats] = None,
             target_sc: Optional[DenseFeats] = None) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Weighted sum over levels of the LC-loss (Equations 2-4), and detached diagnostics.

        Args:
            online_sc (Tensor | tuple[Tensor]): Online dense features of I_sc: the backbone's output tuple of
                (B, C_s, h_s, w_s) maps or one (B, C, h, w) map; gradients flow back through it.
            target_c (Tensor | tuple[Tensor]): Target dense features of I_c, likewise (computed without grad).
            data_samples (list[DataSample]): Each carries ``sc_box``, ``sc_flip``, ``src_shape``.
            online_c (Tensor | tuple[Tensor], optional): Online features of I_c; needed when ``symmetric``.
            target_sc (Tensor | tuple[Tensor], optional): Target features of I_sc; needed when ``symmetric``.

        Returns:
            tuple[Tensor, dict[str, Tensor]]: The local loss (scalar, not weighted by alpha) and diagnostics
            without "loss" in their names: ``lc_valid_ratio`` (fraction of I_c cells whose centre lies in I_sc),
            ``local_std`` / ``local_erank`` (online local embeddings of I_sc's cells); with several levels
            each gets a ``_level{i}`` suffix and ``lc_level{i}`` holds that level's (unweighted) loss.
        """
        if self.symmetric and (online_c is None or target_sc is None):
            raise ValueError('a symmetric LocalBranch needs online_c and target_sc as well')
        online_sc, target_c = _as_tuple(online_sc), _as_tuple(target_c)
        if self.symmetric:
            online_c, target_sc = _as_tuple(online_c), _as_tuple(target_sc)
        total, logs = 0., {}
        records = sample_records(data_samples)  # built once for every level and direction
        for level, (online_neck, target_neck, weight) in enumerate(self.levels()):
            loss, grid, online = self._direction_loss(
                online_neck, target_neck, online_sc, target_c, records, inverse=False)
            if self.symmetric:
                reverse, _, _ = self._direction_loss(
                    online_neck, target_neck, online_c, target_sc, records, inverse=True)
                loss = 0.5 * (loss + reverse)
            total = total + weight * loss
            suffix = '' if self.num_levels == 1 else f'_level{level}'
            logs[f'lc_valid_ratio{suffix}'] = valid_and_safe_grid(grid)[0].float().mean().detach()
            cells = online.permute(0, 2, 3, 1).flatten(0, 2)  # (B*Ho*Wo, C_l): one embedding per cell
            logs[f'local_std{suffix}'], logs[f'local_erank{suffix}'] = embedding_std(cells), effective_rank(cells)
            if suffix:
                logs[f'lc{suffix}'] = loss.detach()
        return total, logs

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(levels={self.num_levels}, local_weights={self.local_weights}, '
                f'symmetric={self.symmetric})')

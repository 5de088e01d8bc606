# Copyright (c) mmlc contributors. All rights reserved.
"""Correspondence maps as pictures (paper Figures 4 and 5), with matplotlib's Agg canvas (no display).

Layout, top to bottom, each row the two views side by side (I_1 left, I_2 right) at ``view_px`` pixels
each, under a ``title_px`` strip:

1. prediction: an arc from each drawn I_1 cell centre to the centre of its best match in I_2, green
   when correct, red when wrong;
2. ground truth: an arc from each drawn I_1 cell centre to its true point in I_2 (arcs, because the
   flip pair's straight links would all overlap along their rows);
3. (optional) similarity: one I_1 cell (boxed) and its cosine-similarity map over I_2 as a heat map,
   with its best match (x) and true point (+).

The PNG is ``2 * view_px`` wide and ``rows * (view_px + title_px)`` high.
"""

import math
from typing import Optional, Sequence, Tuple

import numpy as np

from .correspondence_eval import PairResult, ViewPair

CORRECT = '#00d000'
WRONG = '#ff2020'
TRUTH = '#ffd700'


def cell_centres_px(feat_size: Sequence[int], view_size: Sequence[int]) -> np.ndarray:
    """Pixel centres of the cells of an (h, w) map laid over a (H, W) view.

    Args:
        feat_size (Sequence[int]): (h, w).
        view_size (Sequence[int]): (H, W) of the view in pixels.

    Returns:
        np.ndarray: (h*w, 2) points (x, y), row-major like the flat cell index.
    """
    h, w = int(feat_size[0]), int(feat_size[1])
    ys, xs = np.meshgrid(
        (np.arange(h) + 0.5) * view_size[0] / h, (np.arange(w) + 0.5) * view_size[1] / w, indexing='ij')  # each (h, w)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)  # (h*w, 2)


def drawn_cells(feat_size: Sequence[int], max_lines: int) -> np.ndarray:
    """Flat indices of a regular sub-grid of at most ~``max_lines`` cells (all of them when few)."""
    h, w = int(feat_size[0]), int(feat_size[1])
    stride = max(1, math.ceil(math.sqrt(h * w / max(1, max_lines))))
    ys, xs = np.meshgrid(np.arange(stride // 2, h, stride), np.arange(stride // 2, w, stride), indexing='ij')
    return (ys * w + xs).ravel()


def figure_size_px(view_px: int, title_px: int, heatmap: bool) -> Tuple[int, int]:
    """(width, height) of the written PNG in pixels."""
    rows = 3 if heatmap else 2
    return 2 * view_px, rows * (view_px + title_px)


def draw_correspondence(pair: ViewPair,
                        result: PairResult,
                        path: str,
                        heatmap_cell: Optional[int] = None,
                        max_lines: int = 64,
                        view_px: int = 256,
                        title_px: int = 24,
                        dpi: int = 100) -> Tuple[int, int]:
    """Write a correspondence map PNG for one pair.

    Args:
        pair (ViewPair): The views (BGR uint8) and their geometry.
        result (PairResult): Its matching result; ``result.similarity`` is needed for the heat map.
        path (str): Output ``.png`` path.
        heatmap_cell (int, optional): Flat index of the I_1 cell whose similarity map to draw.
            Defaults to None (no heat-map row).
        max_lines (int): Draw about this many cells at most (a regular sub-grid). Defaults to 64.
        view_px (int): Width and height of each view in the picture. Defaults to 256.
        title_px (int): Height of each row's title strip. Defaults to 24.
        dpi (int): Resolution used to convert pixels to inches. Defaults to 100.

    Returns:
        tuple[int, int]: (width, height) of the PNG in pixels.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, Rectangle

    heatmap = heatmap_cell is not None
    if heatmap and result.similarity is None:
        raise ValueError('a heat map needs the similarity matrix (evaluate_pairs(..., keep_similarity=True))')
    width, height = figure_size_px(view_px, title_px, heatmap)
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)

    img1, img2 = pair.view1[..., ::-1], pair.view2[..., ::-1]  # BGR -> RGB for display
    s1, s2 = img1.shape[:2], img2.shape[:2]
    canvas_h = max(s1[0], s2[0])
    canvas = np.zeros((canvas_h, s1[1] + s2[1], 3), dtype=np.uint8)
    canvas[:s1[0], :s1[1]], canvas[:s2[0], s1[1]:] = img1, img2
    offset = np.array([s1[1], 0.])  # I_2's pixels are shifted right by I_1's width

    centres1 = cell_centres_px(result.feat_size1, s1)  # (N1, 2)
    centres2 = cell_centres_px(result.feat_size2, s2) + offset  # (N2, 2)
    true_pts, true_valid = pair.true_points(result.feat_size1)
    true_pts = true_pts + offset
    cells = drawn_cells(result.feat_size1, max_lines)
    pred, target, valid = result.pred.numpy(), result.target.numpy(), result.valid.numpy()

    row_h = (view_px + title_px) / height

    def row_axes(row: int, title: str):
        bottom = 1 - (row + 1) * row_h
        ax = fig.add_axes((0, bottom, 1, view_px / height))
        ax.imshow(canvas, extent=(0, canvas.shape[1], canvas_h, 0), interpolation='bilinear')
        ax.axvline(s1[1], color='white', linewidth=2)
        ax.set_xlim(0, canvas.shape[1])
        ax.set_ylim(canvas_h, 0)
        ax.set_axis_off()
        fig.text(
            0.5,
            bottom + view_px / height + 0.5 * title_px / height,
            title,
            ha='center',
            va='center',
            fontsize=max(7, title_px * 0.45 * 72 / dpi))
        return ax

    def link(ax, start, end, colour) -> None:
        # Arcs rather than straight lines: the flip pair's true links all lie on their own row, and
        # straight segments there would overlap; arcs of different lengths nest instead.
        ax.add_patch(
            FancyArrowPatch(
                tuple(start),
                tuple(end),
                connectionstyle='arc3,rad=-0.2',
                arrowstyle='-',
                color=colour,
                linewidth=1.2,
                alpha=0.9))
        ax.plot([start[0], end[0]], [start[1], end[1]], 'o', color=colour, markersize=2.5)

    scored = cells[valid[cells]]
    correct = pred[scored] == target[scored]
    ax = row_axes(
        0, f'prediction: {int(correct.sum())}/{scored.size} drawn cells correct '
        f'({100 * result.accuracy:.1f}% of all {result.num_valid})')
    for cell, ok in zip(scored, correct):
        link(ax, centres1[cell], centres2[pred[cell]], CORRECT if ok else WRONG)

    ax = row_axes(1, f'ground truth ({pair.mode} pair)')
    for cell in cells[true_valid[cells]]:
        link(ax, centres1[cell], true_pts[cell], TRUTH)

    if heatmap:
        h2, w2 = result.feat_size2
        h1, w1 = result.feat_size1
        cy, cx = divmod(int(heatmap_cell), w1)
        ax = row_axes(2, f'similarity of I_1 cell (y={cy}, x={cx}) over I_2')
        sim = result.similarity[int(heatmap_cell)].reshape(h2, w2).numpy()
        ax.imshow(
            sim,
            extent=(s1[1], s1[1] + s2[1], s2[0], 0),
            cmap='jet',
            alpha=0.5,
            interpolation='nearest',
            vmin=-1,
            vmax=1)
        cw, ch = s1[1] / w1, s1[0] / h1
        ax.add_patch(Rectangle((cx * cw, cy * ch), cw, ch, fill=False, edgecolor='white', linewidth=2))
        bx, by = centres2[pred[int(heatmap_cell)]]
        ax.plot([bx], [by], 'x', color='white', markersize=9, markeredgewidth=2.5)
        if true_valid[int(heatmap_cell)]:
            tx, ty = true_pts[int(heatmap_cell)]
            ax.plot([tx], [ty], '+', color='black', markersize=11, markeredgewidth=2.5)
        ax.set_xlim(0, canvas.shape[1])
        ax.set_ylim(canvas_h, 0)

    fig.savefig(path, dpi=dpi, facecolor='white')
    return width, height

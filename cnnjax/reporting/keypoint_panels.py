"""Panels of keypoint estimation as a PNG: per example the image with the true keypoints (rings) and the predicted
ones (crosses) in one colour per keypoint, a line from each truth to its prediction, and the predicted heat maps'
maximum over keypoints."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cnnjax.reporting.panels import class_colours


def write_keypoint_panels(
    path: str,
    *,
    images: np.ndarray,
    labels: np.ndarray,
    visible: np.ndarray,
    predictions: np.ndarray,
    heatmaps: np.ndarray,
    names: Sequence[str],
    title: str = "",
) -> str:
    """Writes `path` (PNG): per example, the image (float (H, W, C) in [0, 1], clipped) with the true keypoints
    `labels` (B, K, 2) (row, col) that are `visible` (B, K) as rings and every predicted one `predictions`
    (B, K, 2) as a cross, and the maximum over keypoints of `heatmaps` (B, H, W, K); a legend names the
    keypoints' colours; returns the path."""
    images, labels, visible = np.asarray(images), np.asarray(labels), np.asarray(visible)
    predictions, heatmaps = np.asarray(predictions), np.asarray(heatmaps)
    count, height, width = images.shape[:3]
    colours = class_colours(len(names))
    fig = Figure(figsize=(4.6, 2.2 * count + 0.8), layout="constrained")
    axes = fig.subplots(count, 2, squeeze=False)
    extent = (0, width, height, 0)  # pixel (r, c) covers [r, r+1) x [c, c+1): points in pixel coordinates
    for row in range(count):
        image = np.clip(images[row], 0.0, 1.0)
        ax = axes[row, 0]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", extent=extent, interpolation="nearest")
        for k, colour in enumerate(colours):
            (true_row, true_col), (row_hat, col_hat) = labels[row, k], predictions[row, k]
            if visible[row, k] > 0:
                ax.plot([true_col, col_hat], [true_row, row_hat], color=colour, linewidth=0.8)
                ax.plot(true_col, true_row, "o", markerfacecolor="none", markeredgecolor=colour, markersize=6)
            ax.plot(col_hat, row_hat, "x", color=colour, markersize=5, markeredgewidth=1.5)
        axes[row, 1].imshow(heatmaps[row].max(axis=-1), cmap="viridis", extent=extent, interpolation="nearest")
        for ax, name in zip(axes[row], ("truth o, prediction x", "predicted heat maps (max)"), strict=True):
            ax.set_xlim(0, width)
            ax.set_ylim(height, 0)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(name, fontsize=9)
    handles = [Line2D([], [], color=c, marker="o", linestyle="", label=n) for c, n in zip(colours, names, strict=True)]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
    if title:
        fig.suptitle(title)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=80)
    return path

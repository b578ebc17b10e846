"""The PNGs of `cnnjax predict`: an image beside per-class heat maps (segmentation probabilities, a classifier's
class maps), or beside its density map and count."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from cnnjax.reporting.panels import colourise

COLUMNS = 4
PANEL_INCHES = 2.6


def write_heatmaps(
    path: str,
    image: np.ndarray,
    maps: np.ndarray,
    class_names: Sequence[str],
    *,
    mask: np.ndarray | None = None,
    title: str = "",
) -> str:
    """Writes ``path``: the uint8 ``image`` (H, W, C), the class ``mask`` in class colours (if given), then one
    panel per class of ``maps`` (h, w, classes) with values in [0, 1] on a shared colour scale, stretched over the
    image's extent (a classifier's map is coarser than the image); returns the path."""
    panels = 1 + (mask is not None) + maps.shape[-1]
    rows = math.ceil(panels / COLUMNS)
    height, width = image.shape[:2]
    panel_height = PANEL_INCHES * min(1.0, height / width) + 0.3  # room for the title
    fig = Figure(figsize=(PANEL_INCHES * min(panels, COLUMNS) + 1, panel_height * rows + 0.4), layout="constrained")
    axes = iter(fig.subplots(rows, min(panels, COLUMNS), squeeze=False).ravel())
    extent = (0, width, height, 0)
    ax = next(axes)
    ax.imshow(_displayable(image), cmap="gray", interpolation="nearest")
    ax.set_title(f"image {height}x{width}")
    if mask is not None:
        ax = next(axes)
        ax.imshow(colourise(mask, len(class_names)), interpolation="nearest")
        ax.set_title("prediction")
    shown = None
    for c, name in enumerate(class_names):
        ax = next(axes)
        shown = ax.imshow(maps[..., c], vmin=0.0, vmax=1.0, cmap="magma", extent=extent, interpolation="nearest")
        ax.set_title(f"{name} (max {maps[..., c].max():.2f})", fontsize=9)
    for ax in fig.axes:
        ax.set_axis_off()
    fig.colorbar(shown, ax=fig.axes, shrink=0.6, label="probability")
    return _save(fig, path, title)


def write_density(path: str, image: np.ndarray, density: np.ndarray, count: float, *, title: str = "") -> str:
    """Writes ``path``: the uint8 ``image`` beside its predicted ``density`` (H, W) and the count; returns the path."""
    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(_displayable(image), cmap="gray", interpolation="nearest")
    left.set_title(f"image {image.shape[0]}x{image.shape[1]}")
    shown = right.imshow(density, cmap="magma", interpolation="nearest")
    right.set_title(f"density: count {count:.2f}")
    for ax in (left, right):
        ax.set_axis_off()
    fig.colorbar(shown, ax=right, shrink=0.8)
    return _save(fig, path, title)


def _displayable(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.shape[-1] == 1 else image


def _save(fig: Figure, path: str, title: str) -> str:
    if title:
        fig.suptitle(title)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=80)
    return path

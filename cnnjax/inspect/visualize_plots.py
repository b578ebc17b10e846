"""The one picture `cnnjax visualize` draws: a grid of tiles (images, maps, heat maps over images) as a PNG.

A tile's image is (H, W, 3) RGB or (H, W, 1) / (H, W) in [0, 1] (clipped; one channel drawn in grey), or,
with a ``cmap``, a map drawn on that colour scale between ``limits`` (default its own min and max).  An
``overlay`` (H, W) map is drawn over the image in ``OVERLAY_CMAP`` scaled to its own maximum, at
``OVERLAY_ALPHA``.  Pixels are drawn as squares (no interpolation), so small images stay exact.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

OVERLAY_CMAP, OVERLAY_ALPHA = "jet", 0.5
TILE_INCHES, DPI = 1.3, 80
TITLE_INCHES_PER_CHARACTER = 0.075  # at the title's font size


@dataclasses.dataclass(frozen=True)
class Tile:
    """One picture of the grid and its caption (module docstring)."""

    image: np.ndarray
    caption: str = ""
    cmap: str | None = None
    limits: tuple[float, float] | None = None
    overlay: np.ndarray | None = None


def write_grid(
    path: str,
    rows: Sequence[Sequence[Tile]],
    *,
    row_labels: Sequence[str] = (),
    title: str = "",
    tile_inches: float = TILE_INCHES,
) -> str:
    """Writes ``path`` (PNG): ``rows`` of tiles of ``tile_inches`` (rows may be shorter than the longest), each
    row labelled on its left by ``row_labels``, the figure at least as wide as its title; returns the path.
    Uses Agg, never opens a window."""
    columns = max(len(row) for row in rows)
    label_inches = 1.0 if row_labels else 0.0
    width = max(tile_inches * columns + label_inches, TITLE_INCHES_PER_CHARACTER * len(title))
    fig = Figure(figsize=(width, (tile_inches + 0.25) * len(rows) + 0.5 * bool(title)), layout="constrained")
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for r, row in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.set_axis_off()
                continue
            _draw(ax, row[c])
        if r < len(row_labels):
            axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _draw(ax, tile: Tile) -> None:
    image = np.asarray(tile.image, np.float32)
    if tile.cmap is not None:
        low, high = tile.limits if tile.limits is not None else (float(image.min()), float(image.max()))
        ax.imshow(image, cmap=tile.cmap, vmin=low, vmax=high, interpolation="nearest")
    else:
        image = np.clip(image, 0.0, 1.0)
        grey = image.ndim == 2 or image.shape[-1] == 1
        ax.imshow(
            image.reshape(image.shape[:2]) if grey else image,
            cmap="gray" if grey else None,
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
        )
    if tile.overlay is not None:
        overlay = np.asarray(tile.overlay, np.float32)
        ax.imshow(
            overlay,
            cmap=OVERLAY_CMAP,
            vmin=0.0,
            vmax=max(float(overlay.max()), 1e-12),
            alpha=OVERLAY_ALPHA,
            interpolation="bilinear",
        )
    ax.set_title(tile.caption, fontsize=8)

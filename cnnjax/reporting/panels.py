"""Panels of image, ground truth and prediction side by side, one row per example, as a PNG: class maps
(segmentation) or density maps with their counts (counting)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

IGNORED_COLOUR = (0.0, 0.0, 0.0)  # pixels whose label is outside the classes (the ignore label)


def class_colours(num_classes: int) -> np.ndarray:
    """(num_classes, 3) RGB in [0, 1]: matplotlib's tab10 / tab20 qualitative colours."""
    base = matplotlib.colormaps["tab10" if num_classes <= 10 else "tab20"].colors
    return np.asarray([base[i % len(base)] for i in range(num_classes)], np.float32)


def colourise(label_map: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) RGB; labels outside [0, num_classes) are black."""
    palette = np.concatenate([class_colours(num_classes), np.asarray([IGNORED_COLOUR], np.float32)])
    index = np.where((label_map >= 0) & (label_map < num_classes), label_map, num_classes)
    return palette[index]


def write_segmentation_panels(
    path: str,
    *,
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    class_names: Sequence[str],
    title: str = "",
) -> str:
    """Writes `path` (PNG): per example, the image (float (H, W, C) in [0, 1], clipped), the ground truth and
    the prediction in class colours, with a legend of `class_names`; returns the path."""
    images, labels, predictions = np.asarray(images), np.asarray(labels), np.asarray(predictions)
    count, num_classes = len(images), len(class_names)
    fig = Figure(figsize=(6.5, 2.2 * count + 0.6), layout="constrained")
    axes = fig.subplots(count, 3, squeeze=False)
    for row in range(count):
        image = np.clip(images[row], 0.0, 1.0)
        panels = (
            image[..., 0] if image.shape[-1] == 1 else image,
            colourise(labels[row], num_classes),
            colourise(predictions[row], num_classes),
        )
        for column, (ax, panel) in enumerate(zip(axes[row], panels, strict=True)):
            ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(("image", "ground truth", "prediction")[column])
    fig.legend(
        handles=[Patch(color=c, label=n) for c, n in zip(class_colours(num_classes), class_names, strict=True)],
        loc="outside lower center",
        ncol=min(num_classes, 6),
    )
    if title:
        fig.suptitle(title)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def write_density_panels(
    path: str, *, images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, title: str = ""
) -> str:
    """Writes `path` (PNG): per example, the image (float (H, W, C) in [0, 1], clipped), the target density map
    `labels` and the predicted one (H, W) on one colour scale per row, each titled with its count (the map's
    sum); returns the path."""
    images, targets, predictions = np.asarray(images), np.asarray(labels), np.asarray(predictions)
    count = len(images)
    fig = Figure(figsize=(6.5, 2.2 * count + 0.4), layout="constrained")
    axes = fig.subplots(count, 3, squeeze=False)
    for row in range(count):
        image = np.clip(images[row], 0.0, 1.0)
        vmax = max(float(targets[row].max()), float(predictions[row].max()), 1e-6)
        axes[row, 0].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", interpolation="nearest")
        axes[row, 0].set_title("image" if row == 0 else "")
        for ax, name, density in (
            (axes[row, 1], "target", targets[row]),
            (axes[row, 2], "predicted", predictions[row]),
        ):
            ax.imshow(density, cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
            ax.set_title(f"{name}: {float(density.sum()):.2f}")
        for ax in axes[row]:
            ax.set_axis_off()
    if title:
        fig.suptitle(f"{title} (counts = map sums)")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=80)
    return path

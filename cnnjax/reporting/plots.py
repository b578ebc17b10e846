"""Training curves (loss and accuracy or mIoU vs step) from ``metrics.jsonl`` as a PNG."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from cnnjax.reporting.metrics_log import read_metrics

CURVES_FILE = "training_curves.png"
# Panel title and the metrics it plots (segmentation runs log pixel_accuracy and miou, not accuracy).
_PANELS = (("Loss", ("loss",)), ("Accuracy / mIoU", ("accuracy", "pixel_accuracy", "miou")))


def plot_training_curves(workdir: str) -> str:
    """Writes ``workdir/training_curves.png``: one line per split (train, validation),
    test as a marker plus dashed level; returns the path. Uses Agg, never opens a window."""
    rows = read_metrics(workdir)
    fig = Figure(figsize=(11, 4), layout="constrained")
    for ax, (title, names) in zip(fig.subplots(1, 2), _PANELS):
        present = [name for name in names if any(name in row for row in rows)]
        for name in present:
            for split in dict.fromkeys(row["split"] for row in rows):
                points = [(row["step"], row[name]) for row in rows if row["split"] == split and name in row]
                if not points:
                    continue
                steps, values = zip(*points)
                label = split if len(present) == 1 else f"{split} {name}"
                if split == "test":
                    ax.axhline(values[-1], color="tab:red", linestyle="--", linewidth=1)
                    ax.plot(steps, values, "o", color="tab:red", label=f"{label} ({values[-1]:.4g})")
                else:
                    ax.plot(steps, values, label=label, marker="." if len(steps) < 30 else None)
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    path = os.path.join(workdir, CURVES_FILE)
    fig.savefig(path, dpi=100)
    return path

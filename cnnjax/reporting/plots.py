"""Training curves (loss and accuracy vs step) from ``metrics.jsonl`` as a PNG."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from cnnjax.reporting.metrics_log import read_metrics

CURVES_FILE = "training_curves.png"
_PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"))


def plot_training_curves(workdir: str) -> str:
    """Writes ``workdir/training_curves.png``: one line per split (train, validation),
    test as a marker plus dashed level; returns the path. Uses Agg, never opens a window."""
    rows = read_metrics(workdir)
    fig = Figure(figsize=(11, 4), layout="constrained")
    for ax, (name, title) in zip(fig.subplots(1, 2), _PANELS):
        for split in dict.fromkeys(row["split"] for row in rows):
            points = [(row["step"], row[name]) for row in rows if row["split"] == split and name in row]
            if not points:
                continue
            steps, values = zip(*points)
            if split == "test":
                ax.axhline(values[-1], color="tab:red", linestyle="--", linewidth=1)
                ax.plot(steps, values, "o", color="tab:red", label=f"test ({values[-1]:.4g})")
            else:
                ax.plot(steps, values, label=split, marker="." if len(steps) < 30 else None)
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    path = os.path.join(workdir, CURVES_FILE)
    fig.savefig(path, dpi=100)
    return path

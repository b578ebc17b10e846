"""Training curves (the loss and the task's metrics vs step) from ``metrics.jsonl`` as a PNG."""

from __future__ import annotations

import os
from collections.abc import Sequence

from matplotlib.figure import Figure

from cnnjax.reporting.metrics_log import read_metrics

CURVES_FILE = "training_curves.png"


def plot_training_curves(workdir: str, metrics: Sequence[str] = ("accuracy",)) -> str:
    """Writes ``workdir/training_curves.png``: the loss in one panel, ``metrics`` (the task's, e.g.
    ``pixel_accuracy`` and ``miou``) in the other, one line per split (train, validation) and metric, test as
    a marker plus dashed level; returns the path. Uses Agg, never opens a window."""
    rows = read_metrics(workdir)
    fig = Figure(figsize=(11, 4), layout="constrained")
    panels = (("loss", ("loss",)), (" / ".join(metrics), tuple(metrics)))
    for ax, (title, names) in zip(fig.subplots(1, 2), panels):
        present = [name for name in names if any(name in row for row in rows)]
        for name in present:
            for split in dict.fromkeys(row["split"] for row in rows):
                points = [(row["step"], row[name]) for row in rows if row["split"] == split and name in row]
                if not points:
                    continue
                steps, values = zip(*points)
                label = split if len(present) == 1 else f"{split} {name}"
                if split.startswith("test"):  # test, and test_ema for the weights' moving average
                    color = "tab:red" if split == "test" else "tab:purple"
                    ax.axhline(values[-1], color=color, linestyle="--", linewidth=1)
                    ax.plot(steps, values, "o", color=color, label=f"{label} ({values[-1]:.4g})")
                else:
                    ax.plot(steps, values, label=label, marker="." if len(steps) < 30 else None)
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    path = os.path.join(workdir, CURVES_FILE)
    fig.savefig(path, dpi=100)
    return path

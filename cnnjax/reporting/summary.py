"""One-line result of a run: ``summary.json`` (all fields) and ``summary.txt``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping


def _to_json(value: object) -> object:
    """Makes numpy/JAX scalars and arrays JSON serialisable."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Not JSON serialisable: {type(value).__name__}")


def format_summary(summary: Mapping[str, object]) -> str:
    """E.g. ``digits_lenet5: test accuracy 98.15% (270 examples) · test loss 0.0712 · 1200 steps · 41.3 s``;
    segmentation runs (``test_miou``) lead with ``test mIoU 84.10% · pixel accuracy 96.30% (300 images)``,
    counting runs (``test_count_mae``, lower is better) with ``test count MAE 0.120 · RMSE 0.180 (mean count
    2.50, 300 images)``."""
    if "test_count_mae" in summary:
        headline = (
            f"test count MAE {float(summary['test_count_mae']):.3f} · RMSE {float(summary['test_count_rmse']):.3f}"
            f" (mean count {float(summary['test_mean_count']):.2f}, {int(summary['num_test_examples'])} images)"
        )
    elif "test_miou" in summary:
        headline = (
            f"test mIoU {float(summary['test_miou']):.2%} · pixel accuracy {float(summary['test_pixel_accuracy']):.2%}"
            f" ({int(summary['num_test_examples'])} images)"
        )
    else:
        headline = f"test accuracy {float(summary['test_accuracy']):.2%} ({int(summary['num_test_examples'])} examples)"
    return (
        f"{summary['experiment']}: {headline}"
        f" · test loss {float(summary['test_loss']):.4f}"
        f" · {int(summary['steps'])} steps"
        f" · {float(summary['train_seconds']):.1f} s"
    )


def write_summary(workdir: str, summary: Mapping[str, object]) -> str:
    """Writes ``workdir/summary.json`` (with the line) and ``workdir/summary.txt``; returns the one-line summary.

    Expects experiment, test_accuracy (or test_miou and test_pixel_accuracy, fractions; or test_count_mae,
    test_count_rmse and test_mean_count), test_loss, num_test_examples, steps and train_seconds; extra keys
    are kept in the JSON.
    """
    line = format_summary(summary)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({**summary, "line": line}, f, indent=2, default=_to_json)
        f.write("\n")
    with open(os.path.join(workdir, "summary.txt"), "w", encoding="utf-8") as f:
        f.write(line + "\n")
    return line

"""One-line result of a run: ``summary.json`` (all fields) and ``summary.txt``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from cnnjax.reporting import strict_json

SUMMARY_FILE = "summary.json"


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
        + (f" ({int(summary['skipped_steps'])} skipped as non-finite)" if summary.get("skipped_steps") else "")
        + f" · {float(summary['train_seconds']):.1f} s"
    )


def write_summary(workdir: str, summary: Mapping[str, object]) -> str:
    """Writes ``workdir/summary.json`` (with the line) and ``workdir/summary.txt``; returns the one-line summary.

    Expects experiment, test_accuracy (or test_miou and test_pixel_accuracy, fractions; or test_count_mae,
    test_count_rmse and test_mean_count), test_loss, num_test_examples, steps and train_seconds; extra keys
    are kept in the JSON (strict JSON: non-finite values as `strict_json` names).
    """
    line = format_summary(summary)
    write_summary_json(workdir, {**summary, "line": line})
    with open(os.path.join(workdir, "summary.txt"), "w", encoding="utf-8") as f:
        f.write(line + "\n")
    return line


def write_summary_json(workdir: str, fields: Mapping[str, object]) -> None:
    """Replaces ``workdir/summary.json`` atomically with `fields` (strict JSON)."""
    path = os.path.join(workdir, SUMMARY_FILE)
    os.makedirs(workdir, exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(strict_json.dumps(dict(fields), indent=2) + "\n")
    os.replace(path + ".tmp", path)


def read_summary(workdir: str) -> dict | None:
    """``workdir/summary.json`` (non-finite values as floats), or None when the run has none."""
    try:
        with open(os.path.join(workdir, SUMMARY_FILE), encoding="utf-8") as f:
            return strict_json.decode(json.load(f))
    except FileNotFoundError:
        return None

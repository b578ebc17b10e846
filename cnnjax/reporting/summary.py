"""One-line result of a run: ``summary.json`` (all fields) and ``summary.txt``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from cnnjax.reporting import strict_json

SUMMARY_FILE = "summary.json"


def format_summary(summary: Mapping[str, object], headline: str) -> str:
    """``{experiment}: {headline} · test loss … · N steps · S s``, e.g. ``digits_lenet5: test accuracy 98.15% (270
    examples) · test loss 0.0712 · 1200 steps · 41.3 s``; the task writes the headline (`Task.headline_line`)."""
    return (
        f"{summary['experiment']}: {headline}"
        f" · test loss {float(summary['test_loss']):.4f}"
        f" · {int(summary['steps'])} steps"
        + (f" ({int(summary['skipped_steps'])} skipped as non-finite)" if summary.get("skipped_steps") else "")
        + f" · {float(summary['train_seconds']):.1f} s"
    )


def write_summary(workdir: str, summary: Mapping[str, object], headline: str) -> str:
    """Writes ``workdir/summary.json`` (with the line) and ``workdir/summary.txt``; returns the one-line summary.

    Expects experiment, test_loss, steps and train_seconds (and optionally skipped_steps) beside the test
    metrics that ``headline`` states; extra keys are kept in the JSON (strict JSON: non-finite values as
    `strict_json` names).
    """
    line = format_summary(summary, headline)
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

"""Machine-readable metrics of a run: ``metrics.jsonl`` plus TensorBoard event files."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping

from cnnjax.reporting import strict_json


def _import_summary_writer():
    """tensorboardX's `SummaryWriter`, imported with torch hidden unless torch is loaded already.

    tensorboardX's writer imports torch whenever it is installed, only to accept torch tensors (a second of
    start-up in every run); cnnjax logs Python floats.
    """
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
    try:
        from tensorboardX import SummaryWriter
    finally:
        if hide:
            del sys.modules["torch"]
    return SummaryWriter


SummaryWriter = _import_summary_writer()

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def read_metrics(workdir: str, split: str | None = None) -> list[dict]:
    """Rows of ``workdir/metrics.jsonl`` in file order, optionally only one split.

    A trailing line without newline (a write cut short by a kill) is ignored. Non-finite values, stored as
    "NaN" / "Infinity" / "-Infinity" (`cnnjax.reporting.strict_json`), come back as floats.
    """
    path = os.path.join(workdir, METRICS_FILE)
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            row = strict_json.decode(json.loads(line))
            if split is None or row["split"] == split:
                rows.append(row)
    return rows


class MetricsLog:
    """Machine-readable metrics of a run: workdir/metrics.jsonl + TensorBoard event files in workdir/tensorboard.

    On (re)start the JSONL file keeps only rows with ``step <= resume_step`` and TensorBoard purges
    later steps, so every step is logged once. The JSONL file is strict JSON (non-finite values as
    `strict_json` names); TensorBoard gets only finite values. ``enabled=False`` (non-primary hosts) makes
    it a no-op.
    """

    def __init__(self, workdir: str, *, resume_step: int = 0, enabled: bool = True):
        self._enabled = enabled
        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        self._path = os.path.join(workdir, METRICS_FILE)
        self._truncate(resume_step)
        self._logged = {(row["step"], row["split"]) for row in read_metrics(workdir)}
        self._file = open(self._path, "a", encoding="utf-8")
        # tensorboardX writes events from a background thread; flush_secs bounds how stale TB gets.
        self._tb = SummaryWriter(os.path.join(workdir, TENSORBOARD_DIR), purge_step=resume_step + 1, flush_secs=10)

    def _truncate(self, resume_step: int) -> None:
        """Atomically rewrites the JSONL file keeping only rows with ``step <= resume_step``."""
        if not os.path.exists(self._path):
            return
        kept = [row for row in read_metrics(os.path.dirname(self._path)) if row["step"] <= resume_step]
        tmp = self._path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(strict_json.dumps(row) + "\n" for row in kept)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)

    def write(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        """Appends one JSON line for ``split`` at ``step`` (flushed at once) and TB scalars ``{split}/{name}``."""
        if not self._enabled:
            return
        values = {name: float(value) for name, value in metrics.items()}
        row = {"step": int(step), "split": split, "time": time.time(), **values}
        self._file.write(strict_json.dumps(row) + "\n")
        self._file.flush()
        self._logged.add((int(step), split))
        for name, value in values.items():
            if math.isfinite(value):
                self._tb.add_scalar(f"{split}/{name}", value, global_step=int(step), walltime=row["time"])

    def has(self, step: int, split: str) -> bool:
        """True when a row for ``split`` at ``step`` is in the log (``enabled=False``: always True)."""
        return not self._enabled or (int(step), split) in self._logged

    def close(self) -> None:
        """Flushes and closes the JSONL file and the TensorBoard writer."""
        if not self._enabled:
            return
        self._file.close()
        self._tb.close()

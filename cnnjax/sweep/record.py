"""What a sweep knows of its runs, kept beside them in `sweep.json` (rewritten atomically): the runs of its
latest launch (point, seed, overrides), the pairs of points its report compares, and the reason of each run
that failed without a summary to say so. A run's own `summary.json` is the truth about it; the record only
lists the runs and comparisons and keeps failure reasons."""

import fcntl
import json
import os

from cnnjax.checkpoint.lock import LOCK_FILE
from cnnjax.reporting.summary import read_summary
from cnnjax.sweep.definition import Sweep

RECORD_FILE = "sweep.json"
FINISHED = ("completed", "diverged")  # a run whose summary.json says one of these is never opened again


def read_record(sweep_dir: str) -> dict:
    """`{"runs": [{"path", "point", "seed", "overrides"}...], "comparisons": [[a, b]...], "failures": {path:
    reason}}` (each empty when absent)."""
    record = {"runs": [], "comparisons": [], "failures": {}}
    try:
        with open(os.path.join(sweep_dir, RECORD_FILE), encoding="utf-8") as f:
            record.update(json.load(f))
    except FileNotFoundError:
        pass
    return record


def write_record(sweep_dir: str, sweep: Sweep, failures: dict[str, str]) -> None:
    runs = [{"path": r.path, "point": r.point, "seed": r.seed, "overrides": _texts(r.overrides)} for r in sweep.runs]
    path = os.path.join(sweep_dir, RECORD_FILE)
    os.makedirs(sweep_dir, exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"runs": runs, "comparisons": sweep.comparisons, "failures": failures}, f, indent=2)
    os.replace(path + ".tmp", path)


def _texts(overrides: dict) -> dict[str, str]:
    return {key: value if isinstance(value, str) else repr(value) for key, value in overrides.items()}


def run_state(workdir: str, failure: str | None) -> tuple[str, dict]:
    """(status, summary) of a run read without changing a file: its summary's status when finished, else
    `running` while a live process holds its lock, `failed` with a recorded failure, or `pending`."""
    summary = read_summary(workdir) or {}
    if summary.get("status") in FINISHED:
        return summary["status"], summary
    if lock_held(workdir):
        return "running", summary
    return ("failed" if failure else "pending"), summary


def lock_held(workdir: str) -> bool:
    """Whether a live process holds `workdir/run.lock` (tested with a shared lock, released at once)."""
    try:
        with open(os.path.join(workdir, LOCK_FILE), encoding="utf-8") as f:  # read-only: nothing is written
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False

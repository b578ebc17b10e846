"""`results.csv` of a sweep: one row per run of its record, rebuilt from the runs' own `summary.json`.

Columns: point, seed, each override key (the runs' keys in first-seen order), status, reason (of a failure
or divergence), the task's headline test metric, the other scalar test metrics, steps, train_seconds.
"""

import csv
import io
import os

from cnnjax.sweep.record import read_record, run_state
from cnnjax.tasks.factory import TASKS

RESULTS_FILE = "results.csv"


def result_rows(sweep_dir: str) -> list[dict]:
    """The rows of results.csv, from the record and the summaries."""
    record = read_record(sweep_dir)
    rows = []
    for run in record["runs"]:
        failure = record["failures"].get(run["path"])
        status, summary = run_state(os.path.join(sweep_dir, run["path"]), failure)
        row = {"point": run["point"], "seed": run["seed"], **run["overrides"], "status": status}
        row["reason"] = failure if status == "failed" else divergence_reason(summary)
        if summary.get("task") in TASKS:
            headline = f"test_{TASKS[summary['task']].headline}"
            row[headline] = summary[headline]
        row.update({k: v for k, v in summary.items() if k.startswith("test_") and not isinstance(v, list)})
        row.update({k: summary[k] for k in ("steps", "train_seconds") if k in summary})
        rows.append(row)
    return rows


def divergence_reason(summary: dict) -> str:
    """What went non-finite and when, for a diverged run's summary ('' for any other)."""
    if summary.get("status") != "diverged":
        return ""
    return f"{summary.get('metric', 'training')} non-finite at step {summary.get('step', '?')}"


def write_results(sweep_dir: str) -> list[dict]:
    """Writes `sweep_dir/results.csv` atomically; returns its rows."""
    rows = result_rows(sweep_dir)
    override_keys = [key for run in read_record(sweep_dir)["runs"] for key in run["overrides"]]
    columns = list(dict.fromkeys(["point", "seed", *override_keys, *(key for row in rows for key in row)]))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")  # a run without a column's key leaves it empty
    writer.writeheader()
    writer.writerows(rows)
    path = os.path.join(sweep_dir, RESULTS_FILE)
    with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
        f.write(text.getvalue())
    os.replace(path + ".tmp", path)
    return rows

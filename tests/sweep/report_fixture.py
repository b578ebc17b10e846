"""Synthetic sweep directories for the report's tests: sweep.json, each run's summary.json, config.json and
metrics.jsonl written by hand (no training)."""

import json
import os

from cnnjax.reporting.metrics_log import METRICS_FILE
from cnnjax.reporting.summary import write_summary_json
from cnnjax.sweep.definition import Run, Sweep
from cnnjax.sweep.record import write_record

STEPS = (0, 20, 40, 60, 80, 100)


def write_run(
    sweep_dir, run: Run, status: str, value: float | None = None, task: str = "classification", data_seed=None
) -> None:
    """A finished run of `run`: a completed one's headline is `value`, its curves rising to it; a diverged one
    has a summary only. Its config.json holds the run's seed and `data_seed`."""
    workdir = os.path.join(sweep_dir, run.path)
    os.makedirs(workdir)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump({"seed": run.seed, "data_seed": data_seed, "task": task}, f)
    if status == "diverged":
        write_summary_json(workdir, {"status": "diverged", "metric": "loss", "step": 7})
        return
    headline = {"classification": "accuracy", "counting": "count_mae"}[task]
    write_summary_json(workdir, {"status": "completed", "task": task, f"test_{headline}": value, "test_loss": 0.5})
    with open(os.path.join(workdir, METRICS_FILE), "w") as f:
        for step in STEPS:
            f.write(json.dumps({"step": step, "split": "train", "loss": 2.0 - value * step / 100}) + "\n")
            f.write(json.dumps({"step": step, "split": "validation", headline: value * (0.5 + step / 200)}) + "\n")
        f.write(json.dumps({"step": STEPS[-1], "split": "test", headline: value}) + "\n")


def write_sweep(sweep_dir, runs: list[Run], comparisons=(), failures=None) -> None:
    write_record(str(sweep_dir), Sweep(runs, list(comparisons)), failures or {})


def table(report_path, first_column: str) -> list[dict[str, str]]:
    """The rows of the report.md table whose header starts with `first_column`, as {header: cell}."""
    with open(report_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_column} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True)))
    return rows

"""`report.md` and `report.png` of a sweep: its points' headline metric aggregated over seeds, and the record's
comparisons, rebuilt from the runs' own files (so they can be written at any time during the sweep).

The metric is `test_<headline>` of the task of the record's first completed run; the task says whether
higher or lower is better (`Task.headline_higher_is_better`). A point's row (points in the record's order):
mean ± sample std, the interval of the mean, n (its completed runs), min and max (`statistics.describe`),
then the counts of its diverged, failed and unfinished (running or pending) runs; the best mean is marked
`BEST`. A comparison's row: a − b with its interval, p-value and test (`statistics.compare`), the runs keyed
by (seed, data_seed) from their `config.json`. A cell without a value shows `NONE`. `report.png`
(`report_plot`) is written once a run has completed.
"""

import collections
import dataclasses
import json
import os

import ml_collections

from cnnjax.checkpoint.workdir import CONFIG_FILE
from cnnjax.config.schema import data_seed
from cnnjax.sweep import statistics
from cnnjax.sweep.points import SEED_KEY
from cnnjax.sweep.record import read_record, run_state
from cnnjax.sweep.report_plot import plot_report
from cnnjax.sweep.statistics import CONFIDENCE, Described, compare
from cnnjax.tasks.factory import TASKS

REPORT_FILE = "report.md"
PLOT_FILE = "report.png"
BEST = "★"
NONE = "–"
UNFINISHED = ("running", "pending")


@dataclasses.dataclass(frozen=True)
class Metric:
    """The metric a report aggregates: its summary key (`test_<headline>`), headline and direction."""

    key: str
    headline: str
    higher_is_better: bool


@dataclasses.dataclass
class Point:
    """A point's runs: its overrides (seed left out, values as the record writes them), the count of each
    status, and its completed runs' metric values keyed by (seed, data_seed) with their workdirs."""

    name: str
    overrides: dict[str, str]
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    values: dict[tuple[int, int], float] = dataclasses.field(default_factory=dict)
    workdirs: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> Described | None:
        """Its completed runs' values summarized (`statistics.describe`)."""
        return statistics.describe(list(self.values.values()))


def sweep_points(sweep_dir: str) -> tuple[Metric | None, list[Point]]:
    """The report's metric (None until a run has completed) and the record's points with their runs."""
    record = read_record(sweep_dir)
    states = []
    for run in record["runs"]:
        workdir = os.path.join(sweep_dir, run["path"])
        states.append((run, workdir, *run_state(workdir, record["failures"].get(run["path"]))))
    completed = [summary for _, _, status, summary in states if status == "completed"]
    metric = None
    if completed:
        task = TASKS[completed[0]["task"]]
        metric = Metric(f"test_{task.headline}", task.headline, task.headline_higher_is_better)
    points: dict[str, Point] = {}
    for run, workdir, status, summary in states:
        overrides = {key: value for key, value in run["overrides"].items() if key != SEED_KEY}
        point = points.setdefault(run["point"], Point(run["point"], overrides))
        point.statuses[status] += 1
        if status == "completed" and metric.key in summary:
            point.values[_run_key(workdir)] = summary[metric.key]
            point.workdirs.append(workdir)
    return metric, list(points.values())


def best_point(metric: Metric | None, points: list[Point]) -> str | None:
    """The name of the point with the best mean (the first among equals), None when no point has a value."""
    means = {point.name: point.describe().mean for point in points if point.values}
    if not means:
        return None
    return (max if metric.higher_is_better else min)(means, key=means.get)


def write_report(sweep_dir: str) -> str:
    """Writes `report.md` (and `report.png` once a run has completed) atomically; returns report.md's path."""
    metric, points = sweep_points(sweep_dir)
    best = best_point(metric, points)
    labels = [f"{point.name} {BEST}" if point.name == best else point.name for point in points]
    if metric is not None:
        plot_report(os.path.join(sweep_dir, PLOT_FILE), metric, points, labels)
    path = os.path.join(sweep_dir, REPORT_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(report_text(metric, points, labels, read_record(sweep_dir)["comparisons"]))
    os.replace(path + ".tmp", path)
    return path


def report_text(metric: Metric | None, points: list[Point], labels: list[str], comparisons: list) -> str:
    """The Markdown of report.md (module docstring): `points` shown as `labels`, `comparisons` (a, b) pairs."""
    level = f"{CONFIDENCE:.0%}"
    lines = ["# Sweep report", ""]
    if metric:
        direction = "higher" if metric.higher_is_better else "lower"
        lines += [
            f"`{metric.key}` over each point's completed runs: mean ± sample std, {level} interval of the mean "
            f"(Student t), n, min, max. {BEST}: the best mean ({direction} is better).",
            "",
        ]
    lines += [
        f"| point | {metric.key if metric else 'metric'} mean ± std | {level} CI | n | min | max | diverged | failed "
        "| unfinished |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(point, label) for point, label in zip(points, labels, strict=True)]
    if comparisons:
        lines += [
            "",
            "## Comparisons",
            "",
            f"a − b of the means with its {level} interval and two-sided p-value: a paired t test when both points "
            "completed the same (seed, data_seed) runs, else Welch's t test; each point needs 2 completed runs.",
            "",
            f"| a | b | a − b | {level} CI | p | test | n (a, b) |",
            "|---|---|---|---|---|---|---|",
        ]
        by_name = {point.name: point for point in points}
        lines += [_comparison_row(by_name[a], by_name[b]) for a, b in comparisons]
    return "\n".join(lines) + "\n"


def _row(point: Point, label: str) -> str:
    described = point.describe()
    cells = ["", "", 0, "", ""]  # no completed run: the status counts only
    if described:
        spread = f" ± {number(described.std)}" if described.std is not None else ""
        cells = [f"{number(described.mean)}{spread}", interval(described.interval), described.n]
        cells += [number(described.min), number(described.max)]
    unfinished = sum(point.statuses[status] for status in UNFINISHED)
    counts = [point.statuses["diverged"], point.statuses["failed"], unfinished]
    return _cells([label, *cells, *counts])


def _comparison_row(a: Point, b: Point) -> str:
    compared = compare(a.values, b.values)
    cells = [NONE, NONE, NONE, "too few runs"]
    if compared:
        cells = [
            number(compared.difference),
            interval(compared.interval),
            NONE if compared.p_value is None else f"{compared.p_value:.3g}",
            compared.test,
        ]
    return _cells([a.name, b.name, *cells, f"{len(a.values)}, {len(b.values)}"])


def _cells(cells: list) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def number(value: float) -> str:
    """A metric value as report.md writes it."""
    return f"{value:.4g}"


def interval(bounds: tuple[float, float] | None) -> str:
    """An interval as report.md writes it (`NONE` when there is none)."""
    return f"[{number(bounds[0])}, {number(bounds[1])}]" if bounds else NONE


def _run_key(workdir: str) -> tuple[int, int]:
    """(seed, data_seed) of a run, from the config it stored."""
    with open(os.path.join(workdir, CONFIG_FILE), encoding="utf-8") as f:
        config = ml_collections.ConfigDict(json.load(f))
    return config.seed, data_seed(config)

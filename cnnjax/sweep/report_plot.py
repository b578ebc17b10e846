"""`report.png` of a sweep (Agg: never a window), from its points (`report.Point`), each in one colour in panels 1
and 2.

1. Learning curves: a point's mean over its completed runs with a min–max band, at the steps all of them
   logged: of the headline metric on the eval split's rows (the first split other than train whose rows carry
   it) when every completed run has such rows, else of the train loss.
2. The report's metric per point: the mean with its interval as error bars, each run a dot; the best point's
   label marked.
3. One panel per numeric axis (an override key that every point sets to an int or float and that varies
   under some combination of the other varying keys' values): the mean (with its interval) against the axis's value, one line per combination of the other
   varying keys' values; a log x-scale when the values are positive and span more than `LOG_SPAN` times.
"""

from __future__ import annotations

import ast
import itertools
import os
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from cnnjax.reporting.metrics_log import read_metrics
from cnnjax.sweep.statistics import CONFIDENCE

if TYPE_CHECKING:  # report.py imports this module
    from cnnjax.sweep.report import Metric, Point

LOG_SPAN = 10
TRAIN_SPLIT = "train"
COLOURS = [f"C{i}" for i in range(10)]


def plot_report(path: str, metric: Metric, points: list[Point], labels: list[str]) -> None:
    """Writes the figure (module docstring) of `points`, shown as `labels`, to `path` atomically."""
    colours = dict(zip((point.name for point in points), itertools.cycle(COLOURS)))
    axes = numeric_axes(points)
    fig = Figure(figsize=(6 * (2 + len(axes)), 5), layout="constrained")
    panels = fig.subplots(1, 2 + len(axes), squeeze=False)[0]
    _curves_panel(panels[0], metric, points, colours)
    _final_panel(panels[1], metric, points, colours, labels)
    for ax, axis in zip(panels[2:], axes):
        _axis_panel(ax, metric, points, axis)
    for ax in panels:
        ax.grid(alpha=0.3)
    fig.savefig(path + ".tmp", format="png", dpi=100)
    os.replace(path + ".tmp", path)


def varying_keys(points: list[Point]) -> list[str]:
    """The override keys whose value (or absence) differs between points, in first-seen order."""
    keys = dict.fromkeys(key for point in points for key in point.overrides)
    return [key for key in keys if len({point.overrides.get(key) for point in points}) > 1]


def numeric_axes(points: list[Point]) -> list[str]:
    """The varying keys that every point sets to an int or float and that take two values or more under one
    combination of the other varying keys (an axis that only moves with another, as a zipped pair, draws no
    line)."""
    keys = varying_keys(points)
    axes = []
    for key in keys:
        if not all(_number(point.overrides.get(key)) is not None for point in points):
            continue
        lines: dict[tuple, set] = {}
        for point in points:
            combination = tuple(point.overrides.get(other) for other in keys if other != key)
            lines.setdefault(combination, set()).add(point.overrides[key])
        if any(len(values) > 1 for values in lines.values()):
            axes.append(key)
    return axes


def _curves_panel(ax, metric, points: list, colours: dict) -> None:
    runs = {point.name: [read_metrics(workdir) for workdir in point.workdirs] for point in points}
    curves = {name: [_eval_curve(rows, metric.headline) for rows in logs] for name, logs in runs.items()}
    name = f"{metric.headline} (eval)"
    if not all(curve for logs in curves.values() for curve in logs):
        curves = {name: [_train_loss(rows) for rows in logs] for name, logs in runs.items()}
        name = "train loss"
    for point, logs in curves.items():
        steps = sorted(set.intersection(*(set(curve) for curve in logs))) if logs else []
        if not steps:
            continue
        values = np.array([[curve[step] for step in steps] for curve in logs])
        ax.plot(steps, values.mean(axis=0), color=colours[point], label=point, marker="." if len(steps) < 30 else None)
        ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=colours[point], alpha=0.2, linewidth=0)
    ax.set(title=f"learning curves: {name}, mean and min–max over seeds", xlabel="step", ylabel=name)
    if ax.has_data():
        ax.legend(fontsize="small")


def _eval_curve(rows: list[dict], name: str) -> dict[int, float]:
    splits = [row["split"] for row in rows if row["split"] != TRAIN_SPLIT and name in row]
    return {row["step"]: row[name] for row in rows if splits and row["split"] == splits[0] and name in row}


def _train_loss(rows: list[dict]) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in rows if row["split"] == TRAIN_SPLIT and "loss" in row}


def _final_panel(ax, metric: Metric, points: list[Point], colours: dict, labels: list[str]) -> None:
    for x, point in enumerate(points):
        described = point.describe()
        if described is None:
            continue
        values = list(point.values.values())
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else [0.0]
        ax.plot(x + np.asarray(offsets), values, "o", color=colours[point.name], alpha=0.5, markersize=4)
        ax.errorbar(
            x,
            described.mean,
            yerr=_yerr(described),
            fmt="_",
            color=colours[point.name],
            markersize=16,
            capsize=6,
            linewidth=2,
        )
    ax.set_xticks(range(len(points)), labels, rotation=30, ha="right", fontsize="small")
    title = f"{metric.key}: mean, {CONFIDENCE:.0%} CI, each seed"
    ax.set(title=title, ylabel=metric.key, xlim=(-0.6, len(points) - 0.4))


def _axis_panel(ax, metric: Metric, points: list[Point], axis: str) -> None:
    others = [key for key in varying_keys(points) if key != axis]
    lines: dict[tuple, list[Point]] = {}
    for point in points:
        if point.values:
            lines.setdefault(tuple(point.overrides.get(key, "") for key in others), []).append(point)
    for combination, members in lines.items():
        members.sort(key=lambda point: _number(point.overrides[axis]))
        described = [point.describe() for point in members]
        x = [_number(point.overrides[axis]) for point in members]
        label = ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in zip(others, combination))
        yerr = np.hstack([_yerr(d) for d in described])
        ax.errorbar(x, [d.mean for d in described], yerr=yerr, marker="o", capsize=4, label=label or None)
    values = [_number(point.overrides[axis]) for point in points]
    if min(values) > 0 and max(values) > LOG_SPAN * min(values):
        ax.set_xscale("log")
    ax.set(title=f"{metric.key} vs {axis}", xlabel=axis, ylabel=metric.key)
    if others and ax.has_data():
        ax.legend(fontsize="small")


def _yerr(described) -> np.ndarray:
    """The error bar of a mean: to its interval's ends, or none without an interval."""
    if described.interval is None:
        return np.zeros((2, 1))
    low, high = described.interval
    return np.array([[described.mean - low], [high - described.mean]])


def _number(text: str | None) -> int | float | None:
    """The int or float that an override's text (`record._texts`) holds, else None."""
    try:
        value = ast.literal_eval(text) if text is not None else None
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None

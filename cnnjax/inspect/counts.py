"""Predicted against true counts over a whole split, for a counting run: what `cnnjax visualize counts` draws.

Each example goes through the run's evaluation preprocessing and model, as evaluation feeds it; its true count is
its target density map's sum (the number of objects, less the Gaussian tails cut by the border) and its predicted
count the predicted map's sum. The best constant answer, the reference a counter must beat, is the median of the
true counts (it minimises the mean absolute error over the split).
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np
from matplotlib.figure import Figure

from cnnjax.data.pipeline import eval_batches
from cnnjax.errors import InvalidInputError
from cnnjax.inspect.trained_run import TrainedRun
from cnnjax.tasks.counting import Counting

BATCH = 64


@dataclasses.dataclass(frozen=True)
class SplitCounts:
    true: np.ndarray  # (N,) float: each example's target count
    predicted: np.ndarray  # (N,) float

    @property
    def mae(self) -> float:
        return float(np.mean(np.abs(self.predicted - self.true)))

    @property
    def constant_mae(self) -> float:
        """The mean absolute error of the best constant answer (the median true count)."""
        return float(np.mean(np.abs(self.true - np.median(self.true))))


def split_counts(run: TrainedRun, split: str) -> SplitCounts:
    """True and predicted counts of every example of ``split`` (module docstring)."""
    if not isinstance(run.task, Counting):
        raise InvalidInputError(f"counts needs a counting run; {run.workdir} trains {run.task.name}")
    source = run.dataset.open(split)
    density = jax.jit(  # the weights an argument, not constants folded into the program
        lambda variables, batch: run.task.density(
            run.model.apply(variables, run.preprocess.on_device(batch)["image"], train=False)
        )
    )
    true, predicted = [], []
    for batch in eval_batches(source, preprocess=run.preprocess, global_batch_size=BATCH):
        real = batch["mask"] > 0  # the last batch is padded with repeated examples
        predicted.append(np.asarray(density(run.variables, batch)).sum((1, 2))[real])
        true.append(np.asarray(batch["label"]).sum((1, 2))[real])
    return SplitCounts(np.concatenate(true).astype(np.float64), np.concatenate(predicted).astype(np.float64))


def write_count_scatter(path: str, counts: SplitCounts, title: str) -> str:
    """Writes ``path`` (PNG): predicted against true count per example (true counts jittered by up to ±0.15 so
    equal ones spread; a fixed seed), the identity line, and the MAE beside the best constant answer's; returns
    the path. Uses Agg, never opens a window."""
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(counts.true))
    top = max(float(counts.true.max()), float(counts.predicted.max()), 1.0) + 0.5
    bottom = min(float(counts.predicted.min()), 0.0) - 0.5  # a negative predicted count stays in view
    fig = Figure(figsize=(4.8, 4.8), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, top], [0, top], color="tab:grey", linewidth=1, label="predicted = true")
    ax.scatter(counts.true + jitter, counts.predicted, s=8, alpha=0.5, color="tab:blue", label="example")
    ax.set(xlim=(-0.5, top), ylim=(bottom, top), xlabel="true count", ylabel="predicted count (map sum)")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ratio = counts.mae / counts.constant_mae if counts.constant_mae else float("inf")
    ax.set_title(
        f"{title}\nMAE {counts.mae:.3f} vs {counts.constant_mae:.3f} for the best constant ({ratio:.2f}x)", fontsize=9
    )
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    return path

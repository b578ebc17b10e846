"""The train metrics of the steps since the last log row, accumulated on the device.

The window is part of what a checkpoint holds, so every value logged by a resumed run equals the
uninterrupted run's: the sums carry over the stop. A step's metrics count only when the step was finite
(`cnnjax.train.divergence`); the first non-finite step since the last log row and its code are kept, so the
loop reads everything it needs at a log step, evaluation or save in one transfer.
"""

import jax
import jax.numpy as jnp
import numpy as np


def empty_window(metric_names: tuple[str, ...]) -> dict:
    """A host window with no steps, for scalar metrics named `metric_names`."""
    return {
        "sums": {k: np.zeros((), np.float32) for k in metric_names},
        "finite_steps": np.zeros((), np.int32),
        "first_nonfinite_step": np.full((), -1, np.int32),
        "first_nonfinite_code": np.zeros((), np.int32),
        "skipped_steps": np.zeros((), np.int32),  # the train state's count after the window's last step
    }


def accumulate(window: dict, metrics: dict, step: jax.Array, skipped_steps: jax.Array) -> dict:
    """Adds the metrics of the step that ended at `step` (its non-finite code in `metrics['nonfinite']`)."""
    if set(metrics) != {*window["sums"], "nonfinite"}:
        raise ValueError(f"the step's metrics {sorted(metrics)} are not the window's {sorted(window['sums'])}")
    code = metrics["nonfinite"].astype(jnp.int32)
    finite = code == 0
    first_bad = (window["first_nonfinite_step"] < 0) & ~finite
    return {
        "sums": {k: s + jnp.where(finite, metrics[k].astype(jnp.float32), 0.0) for k, s in window["sums"].items()},
        "finite_steps": window["finite_steps"] + finite.astype(jnp.int32),
        "first_nonfinite_step": jnp.where(first_bad, step.astype(jnp.int32), window["first_nonfinite_step"]),
        "first_nonfinite_code": jnp.where(first_bad, code, window["first_nonfinite_code"]),
        "skipped_steps": skipped_steps.astype(jnp.int32),
    }


def window_means(window: dict) -> dict[str, float]:
    """Host means of a fetched window over its finite steps (NaN when no step of it was finite)."""
    n = int(window["finite_steps"])
    return {k: float(s) / n if n else float("nan") for k, s in window["sums"].items()}

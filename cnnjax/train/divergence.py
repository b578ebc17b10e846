"""Non-finite training steps: how the step flags them, and what a run does about them (`train.nonfinite`).

The train step computes a code per step (0: finite; else a sum of the `NONFINITE_*` bits, the same on
every device) and never applies a non-finite update: params, optimizer state and BatchNorm statistics stay
as they were, the step counter advances and the batch is consumed, and `skipped_steps` counts it. The loop
reads them (`cnnjax.train.log_window`) at each log step, evaluation and save: with 'stop' the first non-finite
step ends the run (no checkpoint of it is written; the good ones stay), with 'skip' training goes on.
"""

import jax
import jax.numpy as jnp

from cnnjax.checkpoint.finite import all_finite
from cnnjax.errors import DivergedError
from cnnjax.reporting.summary import read_summary, write_summary_json

NONFINITE_LOSS, NONFINITE_GRADIENT, NONFINITE_UPDATE = 1, 2, 4
_NAMES = {NONFINITE_LOSS: "loss", NONFINITE_GRADIENT: "gradient", NONFINITE_UPDATE: "updated parameters"}


def nonfinite_code(loss, grads, updated) -> jax.Array:
    """The step's code (int32): which of loss, gradients and the updated params / statistics are non-finite."""
    return (
        jnp.where(all_finite(loss), 0, NONFINITE_LOSS)
        + jnp.where(all_finite(grads), 0, NONFINITE_GRADIENT)
        + jnp.where(all_finite(updated), 0, NONFINITE_UPDATE)
    ).astype(jnp.int32)


def describe(code: int) -> str:
    """E.g. 'loss and gradient'."""
    return " and ".join(name for bit, name in _NAMES.items() if code & bit)


def record_divergence(workdir: str, experiment: str, step: int, metric: str, good_steps: list[int]) -> None:
    """Writes `summary.json` as `{"status": "diverged", "step", "metric", ...}`."""
    write_summary_json(
        workdir,
        {
            "status": "diverged",
            "experiment": experiment,
            "step": step,
            "metric": metric,
            "good_checkpoints": good_steps,
        },
    )


def diverged_message(step: int, metric: str, good_steps: list[int], subject: str = "training") -> str:
    """One line: where the run diverged, what it kept, and the ways out."""
    kept = f"checkpoints {', '.join(map(str, good_steps))} are kept" if good_steps else "no checkpoint had been saved"
    return (
        f"{subject} diverged at step {step}: non-finite {metric}; {kept} (nothing non-finite is saved). "
        f"To go on, skipping non-finite steps: the same command with --config.train.nonfinite=skip; "
        f"to change the recipe (e.g. a lower learning rate): a new --workdir"
    )


def recorded_divergence(workdir: str, policy: str) -> int | None:
    """The step at which the run in `workdir` diverged, when it did and `policy` is still 'stop'; else None (a
    seed group's member that diverged trains no further, `cnnjax.train.member_axis`)."""
    summary = read_summary(workdir)
    if policy == "stop" and summary is not None and summary.get("status") == "diverged":
        return int(summary["step"])
    return None


def refuse_if_diverged(workdir: str, policy: str) -> None:
    """Raises DivergedError when `workdir` holds a run that diverged and `policy` is still 'stop'."""
    summary = read_summary(workdir)
    if policy == "stop" and summary is not None and summary.get("status") == "diverged":
        good = summary.get("good_checkpoints", [])
        subject = f"workdir {workdir} holds a run that"
        raise DivergedError(diverged_message(summary["step"], summary["metric"], good, subject))

"""A checkpoint's model variables (params and BatchNorm statistics) as host arrays, read without the rest of the
run: what inspection and fine-tuning start from."""

from __future__ import annotations

import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from cnnjax.checkpoint.manager import good_steps
from cnnjax.errors import InvalidInputError


def checkpoint_step(directory: str, step: int | None = None) -> int:
    """The newest intact step in the checkpoint ``directory``, or ``step`` if it is intact; ``InvalidInputError``
    otherwise."""
    steps = good_steps(directory)
    if not steps:
        raise InvalidInputError(f"{directory} holds no intact checkpoint")
    if step is None:
        return steps[-1]
    if step not in steps:
        raise InvalidInputError(f"{directory} holds no intact checkpoint of step {step}; it holds steps {steps}")
    return step


def restore_variables(directory: str, step: int) -> dict:
    """``{'params': ..., 'batch_stats': ...}`` (no ``batch_stats`` for a model without BatchNorm) of ``step`` in the
    checkpoint ``directory``, as numpy arrays: the canonical saved state, one set of statistics."""
    restored = ocp.CheckpointManager(os.path.abspath(directory)).restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore())
    )
    state = restored.state
    variables = {"params": jax.tree.map(np.asarray, state["params"])}
    if state.get("batch_stats"):
        variables["batch_stats"] = jax.tree.map(np.asarray, state["batch_stats"])
    return variables

"""The per-device steps of a seed group (`cnnjax.train.members`), vmapped over the member axis inside the device
map: K members, one compiled program.

Every member's arrays are its standalone run's: its own initialisation, dropout key (in its state) and data
stream; the collectives of the step (gradient means, synced BatchNorm statistics) stay within a member. A member
whose window already holds a non-finite step is frozen under `train.nonfinite='stop'`: its state and window
come out as they went in, so it stops at its first non-finite step while the others go on.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

# The batch axis comes first (the device map splits it); a group's distinct data streams are stacked after it.
STREAM_AXIS = 1


def vmap_train_step(windowed_step: Callable, shared_data: bool, freeze_diverged: bool) -> Callable:
    """`windowed_step(state, window, batch) -> (state, window)` over a leading member axis of state and window;
    the batch is one stream for all members (`shared_data`) or one per member on `STREAM_AXIS`."""

    def member_step(state, window, batch):
        new = windowed_step(state, window, batch)
        if not freeze_diverged:
            return new
        frozen = window["first_nonfinite_step"] >= 0
        return jax.tree.map(lambda n, o: jnp.where(frozen, o, n), new, (state, window))

    return jax.vmap(member_step, in_axes=(0, 0, None if shared_data else STREAM_AXIS))


def vmap_eval_step(eval_step: Callable) -> Callable:
    """`eval_step(state, batch) -> sums` over the member axis of the state; every member sees the same batch."""
    return jax.vmap(eval_step, in_axes=(0, None))


def stack_members(trees: list):
    """Host pytrees of the members, in member order → one pytree with the member axis first."""
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)

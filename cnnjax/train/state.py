"""The train state: what a run needs to continue exactly (params, BatchNorm statistics, optimizer state, step, RNG,
and how many steps were skipped as non-finite)."""

from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.parallel import PER_DEVICE, REPLICATED


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array  # raw uint32 PRNG key; each step folds in the step number and device index
    skipped_steps: jax.Array  # steps whose update was non-finite and left the state unchanged (train.nonfinite)


def create_train_state(
    model, tx: optax.GradientTransformation, image_shape: tuple[int, int, int], seed: int
) -> TrainState:
    """Initialises the model and optimizer for inputs of `image_shape` (H, W, C); returns host numpy arrays."""
    return state_initializer(model, tx, image_shape)(seed)


def state_initializer(
    model, tx: optax.GradientTransformation, image_shape: tuple[int, int, int]
) -> Callable[[int], TrainState]:
    """`init(seed)`, the host state `create_train_state` gives for `seed`, compiled once for every seed."""

    @jax.jit
    def init(seed):
        # Initialisers draw from an 'rbg' key, whose bit generator XLA compiles far faster than threefry's
        # (benchmarks/README.md). The training RNG (dropout) stays a raw threefry key, folded per step and device.
        variables = model.init(jax.random.key(seed, impl="rbg"), jnp.zeros((1, *image_shape), jnp.float32), train=False)
        params = variables["params"]
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            batch_stats=variables.get("batch_stats", {}),
            opt_state=tx.init(params),
            rng=jax.random.fold_in(jax.random.PRNGKey(seed), 1),
            skipped_steps=jnp.zeros((), jnp.int32),
        )

    return lambda seed: jax.tree.map(np.asarray, init(np.int32(seed)))


def state_layouts(per_device_batch_stats: bool) -> TrainState:
    """Each field's `cnnjax.parallel` layout: all replicated, BatchNorm statistics per device when not synced."""
    return TrainState(
        step=REPLICATED,
        params=REPLICATED,
        batch_stats=PER_DEVICE if per_device_batch_stats else REPLICATED,
        opt_state=REPLICATED,
        rng=REPLICATED,
        skipped_steps=REPLICATED,
    )

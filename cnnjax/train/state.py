"""The train state: what a run needs to continue exactly (params, BatchNorm statistics, optimizer state, step, RNG,
and how many steps were skipped as non-finite; with `train.ema_decay` the weights' moving average too)."""

import dataclasses
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


@flax.struct.dataclass
class EmaTrainState(TrainState):
    """A `TrainState` with the exponential moving average of the weights (`cnnjax.train.ema`). Runs without EMA keep
    the plain `TrainState`, so their checkpoints hold exactly what they held before EMA existed."""

    ema: Any  # {'params', 'batch_stats'}: the moving averages of `params` and `batch_stats`


def variables_of(state: TrainState, use_ema: bool = False) -> dict:
    """`{'params', 'batch_stats'}` of `state`: the raw weights, or their moving average with `use_ema`."""
    return state.ema if use_ema else {"params": state.params, "batch_stats": state.batch_stats}


def create_train_state(
    model, tx: optax.GradientTransformation, image_shape: tuple[int, int, int], seed: int, ema: bool = False
) -> TrainState:
    """Initialises the model and optimizer for inputs of `image_shape` (H, W, C); returns host numpy arrays. With
    `ema`, an `EmaTrainState` whose averages start as the initial weights."""
    return state_initializer(model, tx, image_shape, ema)(seed)


def state_initializer(
    model, tx: optax.GradientTransformation, image_shape: tuple[int, int, int], ema: bool = False
) -> Callable[[int], TrainState]:
    """`init(seed)`, the host state `create_train_state` gives for `seed`, compiled once for every seed."""

    @jax.jit
    def init(seed):
        # Initialisers draw from an 'rbg' key, whose bit generator XLA compiles far faster than threefry's
        # (benchmarks/README.md). The training RNG (dropout) stays a raw threefry key, folded per step and device.
        variables = model.init(jax.random.key(seed, impl="rbg"), jnp.zeros((1, *image_shape), jnp.float32), train=False)
        params = variables["params"]
        state = TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            batch_stats=variables.get("batch_stats", {}),
            opt_state=tx.init(params),
            rng=jax.random.fold_in(jax.random.PRNGKey(seed), 1),
            skipped_steps=jnp.zeros((), jnp.int32),
        )
        return with_ema(state) if ema else state

    return lambda seed: jax.tree.map(np.asarray, init(np.int32(seed)))


def with_ema(state: TrainState) -> EmaTrainState:
    """`state` as an `EmaTrainState` whose averages are its current weights (a fresh start, or new initial weights)."""
    return _extended(state, variables_of(state))


def state_layouts(per_device_batch_stats: bool, ema: bool = False) -> TrainState:
    """Each field's `cnnjax.parallel` layout: all replicated, BatchNorm statistics (and their average) per device
    when not synced."""
    batch_stats = PER_DEVICE if per_device_batch_stats else REPLICATED
    state = TrainState(
        step=REPLICATED,
        params=REPLICATED,
        batch_stats=batch_stats,
        opt_state=REPLICATED,
        rng=REPLICATED,
        skipped_steps=REPLICATED,
    )
    return _extended(state, {"params": REPLICATED, "batch_stats": batch_stats}) if ema else state


def _extended(state: TrainState, ema) -> EmaTrainState:
    """The `EmaTrainState` of `state`'s fields and `ema`."""
    return EmaTrainState(**{f.name: getattr(state, f.name) for f in dataclasses.fields(TrainState)}, ema=ema)

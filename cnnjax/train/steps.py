"""Pure per-device train and eval steps, with named-axis collectives over `AXIS`.

Both are mapped over devices by `cnnjax.parallel.DataParallel`. No I/O, no Python side effects: they also
vmap over seeds. Each takes the host batch as it crossed to the device (uint8 images) and first applies
`on_device` (the preprocessing's device half, e.g. normalisation) to get the model's input.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax
from jax import lax

from cnnjax.parallel import AXIS
from cnnjax.tasks.protocol import Task
from cnnjax.train.divergence import nonfinite_code
from cnnjax.train.ema import EMA, Ema
from cnnjax.train.frozen import frozen_batch_norm, stop_frozen_gradients
from cnnjax.train.mixup import Mixup
from cnnjax.train.state import TrainState, variables_of

# fold_in data of the step key that draws the mixup / CutMix decisions; the dropout keys fold in the device index,
# which never reaches it, so the decisions are the same on every device and independent of dropout.
MIX_STREAM = 2**31 - 1


def as_is(batch: dict) -> dict:
    """No device preprocessing: the batch that crossed to the device is the model's input."""
    return batch


def make_train_step(
    model,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    task: Task,
    on_device: Callable = as_is,
    frozen: Sequence[str] = (),
    accumulation_steps: int = 1,
    ema: Ema | None = None,
    mixup: Mixup | None = None,
):
    """Returns `train_step(state, batch) -> (state, metrics)` for one device's share of the global batch;
    `task` gives the loss and the metrics (and, where it `wants_features`, gets the model's features dict:
    auxiliary heads). A non-finite step leaves params, optimizer state and
    BatchNorm statistics unchanged, counts itself in `skipped_steps` and says why in `metrics['nonfinite']`
    (`cnnjax.train.divergence`); the step counter advances either way. ``frozen`` parameters (patterns,
    `cnnjax.train.frozen`) get no gradient and their BatchNorm layers use their running statistics.
    ``accumulation_steps`` k > 1 splits the device's batch into k micro-batches (`_accumulate`). ``mixup`` mixes
    the global batch (`cnnjax.train.mixup`) before it is split; ``ema`` updates the state's moving average of the
    weights (an `EmaTrainState`) after the update (`cnnjax.train.ema`)."""

    def train_step(state: TrainState, batch):
        batch = on_device(batch)
        step_key = jax.random.fold_in(state.rng, state.step)
        if mixup is not None:
            batch = mixup(batch, jax.random.fold_in(step_key, MIX_STREAM))
        rng = jax.random.fold_in(step_key, lax.axis_index(AXIS))

        def loss_fn(params, batch_stats, batch, rng):
            with frozen_batch_norm(frozen):
                output, updates = model.apply(
                    {"params": stop_frozen_gradients(params, frozen), "batch_stats": batch_stats},
                    batch["image"],
                    train=True,
                    mutable=["batch_stats"],
                    rngs={"dropout": rng},
                    **({"return_features": True} if task.wants_features else {}),
                )
            logits, features = output if task.wants_features else (output, {})
            return task.loss(logits, batch, features), (logits, updates.get("batch_stats", batch_stats))

        gradients = jax.value_and_grad(loss_fn, has_aux=True)
        if accumulation_steps == 1:
            (loss, (logits, batch_stats)), grads = gradients(state.params, state.batch_stats, batch, rng)
        else:
            loss, logits, batch_stats, grads = _accumulate(gradients, state, batch, rng, accumulation_steps)
        grads = lax.pmean(grads, AXIS)  # the 1-device gradient of the global batch (equal shards)
        loss = lax.pmean(loss, AXIS)
        param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, param_updates)
        code = lax.pmax(nonfinite_code(loss, grads, (params, batch_stats)), AXIS)  # per-device statistics too
        updated, kept = (params, batch_stats, opt_state), (state.params, state.batch_stats, state.opt_state)
        params, batch_stats, opt_state = jax.tree.map(lambda new, old: jnp.where(code == 0, new, old), updated, kept)
        new_state = state.replace(
            step=state.step + 1,
            params=params,
            batch_stats=batch_stats,
            opt_state=opt_state,
            skipped_steps=state.skipped_steps + (code != 0).astype(jnp.int32),
        )
        if ema is not None:
            new_state = new_state.replace(ema=ema.update(state.ema, variables_of(new_state), new_state.step))
        metrics = {
            "loss": loss,
            **task.train_metrics(logits, batch),
            "learning_rate": jnp.asarray(schedule(state.step), jnp.float32),
            "grad_norm": optax.tree.norm(grads),
            "nonfinite": code,
        }
        return new_state, metrics

    return train_step


def _accumulate(gradients: Callable, state: TrainState, batch: dict, rng, k: int):
    """(mean loss, logits of the whole batch, BatchNorm statistics after the last micro-batch, mean gradient) of
    ``batch`` split into k equal micro-batches, run in turn by ``lax.scan``: each normalises with its own
    statistics and updates the running ones for the next, and draws dropout from ``fold_in(rng, i)``."""
    micro_batches = jax.tree.map(lambda a: a.reshape(k, a.shape[0] // k, *a.shape[1:]), batch)

    def micro_step(carry, inputs):
        grads_sum, loss_sum, batch_stats = carry
        micro_batch, index = inputs
        (loss, (logits, batch_stats)), grads = gradients(
            state.params, batch_stats, micro_batch, jax.random.fold_in(rng, index)
        )
        return (jax.tree.map(jnp.add, grads_sum, grads), loss_sum + loss, batch_stats), logits

    start = (jax.tree.map(jnp.zeros_like, state.params), jnp.zeros((), jnp.float32), state.batch_stats)
    (grads, loss, batch_stats), logits = lax.scan(micro_step, start, (micro_batches, jnp.arange(k)))
    grads = jax.tree.map(lambda g: g / k, grads)
    return loss / k, logits.reshape(-1, *logits.shape[2:]), batch_stats, grads


def train_metric_names(task: Task) -> tuple[str, ...]:
    """The keys of a train step's metrics, apart from 'nonfinite' (its code)."""
    return ("loss", *task.train_metric_names, "learning_rate", "grad_norm")


def make_eval_step(model, task: Task, on_device: Callable = as_is, with_ema: bool = False):
    """Returns `eval_step(state, batch) -> sums`: the task's sums over the real (mask 1) examples of all devices, for
    the state's weights; `with_ema` adds, under the key `EMA`, the same sums for their moving average, from the
    same batch in the same program (one pass over the split evaluates both)."""

    def eval_step(state: TrainState, batch):
        batch = on_device(batch)

        def sums(use_ema: bool) -> dict:
            logits = model.apply(variables_of(state, use_ema), batch["image"], train=False)
            return task.eval_sums(logits, batch)

        totals = {**sums(False), EMA: sums(True)} if with_ema else sums(False)
        return jax.tree.map(lambda s: lax.psum(s, AXIS), totals)

    return eval_step

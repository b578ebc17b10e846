"""Pure per-device train and eval steps, with named-axis collectives over `AXIS`.

Both are mapped over devices by `cnnjax.parallel.DataParallel` (pmap or shard_map). No I/O, no Python
side effects: they also vmap over seeds.
"""

import jax
import jax.numpy as jnp
import optax
from jax import lax

from cnnjax.parallel import AXIS
from cnnjax.train.losses import cross_entropy
from cnnjax.train.state import TrainState


def make_train_step(model, tx: optax.GradientTransformation, schedule: optax.Schedule, label_smoothing: float):
    """Returns `train_step(state, batch) -> (state, metrics)` for one device's share of the global batch."""

    def train_step(state: TrainState, batch):
        rng = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), lax.axis_index(AXIS))

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats},
                batch["image"],
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": rng},
            )
            loss = cross_entropy(logits, batch["label"], label_smoothing).mean()
            return loss, (logits, updates)

        (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grads = lax.pmean(grads, AXIS)  # the 1-device gradient of the global batch (equal shards)
        param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, param_updates),
            batch_stats=updates.get("batch_stats", state.batch_stats),
            opt_state=opt_state,
        )
        accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        metrics = {
            "loss": lax.pmean(loss, AXIS),
            "accuracy": lax.pmean(accuracy, AXIS),
            "learning_rate": jnp.asarray(schedule(state.step), jnp.float32),
        }
        return new_state, metrics

    return train_step


def make_eval_step(model):
    """Returns `eval_step(state, batch) -> sums` over the real (mask 1) examples of all devices."""

    def eval_step(state: TrainState, batch):
        logits = model.apply({"params": state.params, "batch_stats": state.batch_stats}, batch["image"], train=False)
        real = batch["mask"] > 0
        loss = jnp.where(real, cross_entropy(logits, batch["label"]), 0.0)
        correct = real & (jnp.argmax(logits, -1) == batch["label"])
        return {
            "loss_sum": lax.psum(loss.sum(), AXIS),
            "correct": lax.psum(correct.sum(dtype=jnp.int32), AXIS),
            "count": lax.psum(real.sum(dtype=jnp.int32), AXIS),
        }

    return eval_step


def sync_batch_stats(state: TrainState) -> TrainState:
    """Averages per-device BatchNorm statistics across devices (before evaluation and checkpoints)."""
    return state.replace(batch_stats=lax.pmean(state.batch_stats, AXIS))

"""What the forward pass of a train step keeps for its backward pass: the residuals of ``jax.vjp`` of the loss, sized
by tracing alone (``jax.eval_shape``, nothing compiled or run). It is the activation memory that ``remat`` shrinks on
every backend: rematerialised blocks keep only their inputs. (A compiled step's footprint also depends on the
backend's schedule: XLA:CPU's does not turn fewer residuals into a smaller footprint; GPU and TPU schedulers do.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cnnjax.tasks.losses import cross_entropy


def backward_residual_bytes(model, variables: dict, images: jax.ShapeDtypeStruct, num_classes: int) -> int:
    """Bytes of the residuals the train-mode forward pass of ``model`` (with ``variables``: host or abstract arrays)
    on a batch shaped like ``images`` keeps for the gradient of its cross-entropy with respect to the params."""
    labels = jnp.zeros(images.shape[:1], jnp.int32) % num_classes

    def loss(params, batch_stats, x):
        logits, _ = model.apply(
            {"params": params, "batch_stats": batch_stats},
            x,
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": jax.random.key(0)},
        )
        return cross_entropy(logits, labels).mean()

    def residuals(params, batch_stats, x):
        return jax.vjp(lambda p: loss(p, batch_stats, x), params)[1]

    shapes = jax.eval_shape(residuals, variables["params"], variables.get("batch_stats", {}), images)
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(shapes))

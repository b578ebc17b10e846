"""Losses and metrics of counting by density regression, computed in float32.

The model's one output channel is the density times `scale`; a target is a density map (B, H, W) whose sum
is the image's count.
"""

import jax
import jax.numpy as jnp
from jax import lax


def squared_errors(outputs: jax.Array, targets: jax.Array, scale: float) -> jax.Array:
    """(B, H, W): per pixel (output - scale * target)^2; `outputs` (B, H, W, 1)."""
    return (outputs[..., 0].astype(jnp.float32) - scale * targets) ** 2


def density(outputs: jax.Array, scale: float) -> jax.Array:
    """(B, H, W, 1) model output -> (B, H, W) predicted density."""
    return outputs[..., 0] / scale


def count_errors(outputs: jax.Array, targets: jax.Array, scale: float) -> jax.Array:
    """(B,): predicted count (the predicted density's sum) minus the target count (the target map's sum)."""
    return density(outputs.astype(jnp.float32), scale).sum((1, 2)) - targets.sum((1, 2))


def count_mae(outputs: jax.Array, targets: jax.Array, scale: float, axis_name: str | None = None) -> jax.Array:
    """The mean absolute count error over the batch; with `axis_name`, the mean over the devices (the global
    batch's when the devices hold equal shares)."""
    value = jnp.abs(count_errors(outputs, targets, scale)).mean()
    return value if axis_name is None else lax.pmean(value, axis_name)

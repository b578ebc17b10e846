"""Classification losses and metrics, computed in float32 whatever the model's compute dtype."""

import jax
import jax.numpy as jnp
import optax
from jax import lax

AUX_WEIGHT = 0.3  # GoogLeNet's weight of each auxiliary head's loss (Szegedy et al., 2014)


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """Per-example softmax cross-entropy with optional label smoothing (targets (1-α)·onehot + α/K)."""
    logits = logits.astype(jnp.float32)
    targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def googlenet_loss(logits, features, labels, aux_weight: float = AUX_WEIGHT, label_smoothing: float = 0.0):
    """Mean cross-entropy of ``logits`` plus ``aux_weight`` times that of each auxiliary head's logits in
    ``features`` (the entries named ``aux…``: GoogLeNet's ``aux1``, ``aux2`` in train mode with
    ``aux_logits=True``; without them this is the plain loss)."""
    loss = cross_entropy(logits, labels, label_smoothing).mean()
    for name, aux in features.items():
        if name.startswith("aux"):
            loss = loss + aux_weight * cross_entropy(aux, labels, label_smoothing).mean()
    return loss


def accuracy(logits: jax.Array, labels: jax.Array, axis_name: str | None = None) -> jax.Array:
    """The fraction of examples whose argmax is their label; with `axis_name`, the mean over the devices
    (the global batch's when the devices hold equal shares)."""
    value = jnp.mean(jnp.argmax(logits, -1) == labels)
    return value if axis_name is None else lax.pmean(value, axis_name)

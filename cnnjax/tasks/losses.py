"""Classification losses and metrics, computed in float32 whatever the model's compute dtype."""

import jax
import jax.numpy as jnp
import optax
from jax import lax

AUX_WEIGHT = 0.3  # GoogLeNet's weight of each auxiliary head's loss (Szegedy et al., 2014)


def one_hot_targets(labels: jax.Array, num_classes: int, label_smoothing: float = 0.0) -> jax.Array:
    """float32 targets (…, num_classes) of integer `labels`: one-hot, or label-smoothed (1-α)·onehot + α/K."""
    targets = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    return optax.smooth_labels(targets, label_smoothing) if label_smoothing else targets


def soft_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy against float `targets` (rows summing to 1: mixup / CutMix, smoothing)."""
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """Per-example softmax cross-entropy with optional label smoothing (targets (1-α)·onehot + α/K)."""
    return soft_cross_entropy(logits, one_hot_targets(labels, logits.shape[-1], label_smoothing))


def googlenet_loss(logits, features, labels, aux_weight: float = AUX_WEIGHT, label_smoothing: float = 0.0):
    """``googlenet_soft_loss`` of the (optionally smoothed) one-hot targets of ``labels``."""
    return googlenet_soft_loss(logits, features, one_hot_targets(labels, logits.shape[-1], label_smoothing), aux_weight)


def googlenet_soft_loss(logits, features, targets, aux_weight: float = AUX_WEIGHT):
    """Mean cross-entropy of ``logits`` against ``targets`` plus ``aux_weight`` times that of each auxiliary head's
    logits in ``features`` (the entries named ``aux…``: GoogLeNet's ``aux1``, ``aux2`` in train mode with
    ``aux_logits=True``; without them this is the plain loss)."""
    loss = soft_cross_entropy(logits, targets).mean()
    for name, aux in features.items():
        if name.startswith("aux"):
            loss = loss + aux_weight * soft_cross_entropy(aux, targets).mean()
    return loss


def accuracy(logits: jax.Array, labels: jax.Array, axis_name: str | None = None) -> jax.Array:
    """The fraction of examples whose argmax is their label; with `axis_name`, the mean over the devices
    (the global batch's when the devices hold equal shares)."""
    value = jnp.mean(jnp.argmax(logits, -1) == labels)
    return value if axis_name is None else lax.pmean(value, axis_name)

"""Per-pixel segmentation losses, computed in float32, exact over the global batch on any number of devices.

Logits are (..., K), labels integer (...) of the same leading shape. A pixel counts ("is valid") when its
label is in [0, K), is not `ignore_index`, and `mask` (per example (B,) or per pixel, nonzero = count) allows.

Several devices: each loss is a function F of sums over the valid pixels (for cross-entropy the weighted loss
sum and the weight sum; for Dice per-class intersections and cardinalities). A per-device mean of per-device
losses would be wrong whenever devices hold different numbers of valid pixels. With `axis_name`, a loss
returns a per-device value that fits the existing step, `lax.pmean(grad(local_loss), axis_name)`:

    local_loss = F(S) + N <dF/dS(S), s_d> - stop_gradient(N <dF/dS(S), s_d>),   S = psum(stop_gradient(s_d))

where s_d are this device's sums and N the number of devices. Its value is F(S), the loss of the global batch,
on every device (so `pmean(local_loss)` is too), and the mean of its gradients over devices is
sum_d <dF/dS, ds_d> = dF(S), the 1-device gradient of the global batch. No gradient flows through a
collective, so pmap and shard_map (check_vma=False) agree. Without `axis_name`, F of this call's sums.
In the train step's loss_fn: `ce_plus_dice(logits, batch['label'], axis_name=AXIS)`; the rest is unchanged.

For an exact loss over a whole evaluation split, psum and accumulate `pixel_cross_entropy_sums` and divide
at the end.
"""

import jax
import jax.numpy as jnp
from jax import lax

IGNORE_INDEX = 255


def _valid(labels: jax.Array, num_classes: int, ignore_index: int, mask) -> jax.Array:
    labels = jnp.asarray(labels)
    valid = (labels >= 0) & (labels < num_classes) & (labels != ignore_index)
    if mask is not None:
        mask = jnp.asarray(mask)
        valid &= mask.reshape(mask.shape + (1,) * (labels.ndim - mask.ndim)) > 0
    return valid


def _global(fn, sums, axis_name):
    """fn(sums) of the global batch, as the per-device loss described in the module docstring."""
    if axis_name is None:
        return fn(sums)
    total = lax.psum(lax.stop_gradient(sums), axis_name)
    value, slope = jax.value_and_grad(fn)(total)
    linear = lax.psum(1, axis_name) * sum(jnp.vdot(g, s) for g, s in zip(jax.tree.leaves(slope), jax.tree.leaves(sums)))
    return value + (linear - lax.stop_gradient(linear))  # exactly `value`; the gradient of `linear`


def pixel_cross_entropy_sums(
    logits: jax.Array, labels: jax.Array, *, ignore_index: int = IGNORE_INDEX, class_weights=None, mask=None
) -> tuple[jax.Array, jax.Array]:
    """(sum over valid pixels of w[label] * CE, sum of w[label] over valid pixels); w = 1 without weights."""
    logits = logits.astype(jnp.float32)
    num_classes = logits.shape[-1]
    valid = _valid(labels, num_classes, ignore_index, mask)
    safe = jnp.where(valid, labels, 0).astype(jnp.int32)
    picked = jnp.take_along_axis(logits, safe[..., None], axis=-1)[..., 0]
    per_pixel = jax.nn.logsumexp(logits, axis=-1) - picked
    weights = valid.astype(jnp.float32)
    if class_weights is not None:
        weights *= jnp.asarray(class_weights, jnp.float32)[safe]
    return jnp.sum(jnp.where(valid, per_pixel, 0.0) * weights), jnp.sum(weights)


def pixel_cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    *,
    ignore_index: int = IGNORE_INDEX,
    class_weights=None,
    mask=None,
    axis_name: str | None = None,
) -> jax.Array:
    """Mean softmax cross-entropy over valid pixels, as PyTorch's CrossEntropyLoss(weight=class_weights,
    ignore_index=...): sum of w[label] * CE divided by the sum of w[label]. 0 when no pixel is valid."""
    sums = pixel_cross_entropy_sums(logits, labels, ignore_index=ignore_index, class_weights=class_weights, mask=mask)
    return _global(lambda s: s[0] / jnp.where(s[1] > 0, s[1], 1.0), sums, axis_name)


def dice_loss(
    logits: jax.Array,
    labels: jax.Array,
    *,
    ignore_index: int = IGNORE_INDEX,
    smooth: float = 1.0,
    mask=None,
    axis_name: str | None = None,
) -> jax.Array:
    """Soft Dice over the batch, mean over classes of 1 - (2 sum p t + smooth) / (sum p + sum t + smooth), p
    the softmax probabilities and t the one-hot labels at valid pixels. A class absent from both counts 0."""
    logits = logits.astype(jnp.float32)
    num_classes = logits.shape[-1]
    valid = _valid(labels, num_classes, ignore_index, mask)[..., None]
    probs = jnp.where(valid, jax.nn.softmax(logits, axis=-1), 0.0)
    onehot = jnp.where(valid, jax.nn.one_hot(labels, num_classes, dtype=jnp.float32), 0.0)
    axes = tuple(range(logits.ndim - 1))
    sums = (jnp.sum(probs * onehot, axes), jnp.sum(probs, axes) + jnp.sum(onehot, axes))

    def loss(s):
        intersection, cardinality = s
        denominator = cardinality + smooth
        safe = jnp.where(denominator > 0, denominator, 1.0)
        dice = jnp.where(denominator > 0, (2 * intersection + smooth) / safe, 1.0)
        return jnp.mean(1.0 - dice)

    return _global(loss, sums, axis_name)


def ce_plus_dice(
    logits: jax.Array,
    labels: jax.Array,
    *,
    ignore_index: int = IGNORE_INDEX,
    class_weights=None,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    mask=None,
    axis_name: str | None = None,
) -> jax.Array:
    """pixel_cross_entropy + dice_weight * dice_loss (class weights apply to the cross-entropy only)."""
    ce = pixel_cross_entropy(
        logits, labels, ignore_index=ignore_index, class_weights=class_weights, mask=mask, axis_name=axis_name
    )
    dice = dice_loss(logits, labels, ignore_index=ignore_index, smooth=smooth, mask=mask, axis_name=axis_name)
    return ce + dice_weight * dice

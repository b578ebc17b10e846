"""Per-pixel losses and metrics of semantic segmentation: cross-entropy, Dice, pixel accuracy, confusion matrix.

Logits are (..., K), labels integer (...) of the same leading shape. A pixel counts ("is valid") when its
label is in [0, K), is not `ignore_index` (None: no label besides those outside [0, K) is skipped), and `mask`
(per example (B,) or per pixel, nonzero = count) allows. Losses are computed in float32.

Several devices: each loss is a function F of sums over the valid pixels (for cross-entropy the weighted loss
sum and the weight sum; for Dice per-class intersections and cardinalities). A per-device mean of per-device
losses would be wrong whenever devices hold different numbers of valid pixels. With `axis_name`, a loss
returns a per-device value that fits the existing step, `lax.pmean(grad(local_loss), axis_name)`:

    local_loss = F(S) + N <dF/dS(S), s_d> - stop_gradient(N <dF/dS(S), s_d>),   S = psum(stop_gradient(s_d))

where s_d are this device's sums and N the number of devices. Its value is F(S), the loss of the global batch,
on every device (so `pmean(local_loss)` is too), and the mean of its gradients over devices is
sum_d <dF/dS, ds_d> = dF(S), the 1-device gradient of the global batch. No gradient flows through a
collective, so pmap and shard_map (check_vma=False) agree. Without `axis_name`, F of this call's sums.

Metrics over a whole evaluation split are exact the same way: `pixel_cross_entropy_sums` and `confusion_matrix`
are sums over pixels, which combine across devices with `lax.psum` and across batches by adding them up; the
loss and `segmentation_metrics` are computed once, from the totals, never averaged over batches.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _valid(labels: jax.Array, num_classes: int, ignore_index: int | None, mask) -> jax.Array:
    labels = jnp.asarray(labels)
    valid = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        valid &= labels != ignore_index
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
    logits: jax.Array, labels: jax.Array, *, ignore_index: int | None = None, class_weights=None, mask=None
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
    ignore_index: int | None = None,
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
    ignore_index: int | None = None,
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


def pixel_accuracy(logits: jax.Array, labels: jax.Array, *, ignore_index: int | None = None, axis_name=None):
    """The fraction of valid pixels whose argmax is their label (0 when none is valid); with `axis_name`, over
    the pixels of all devices."""
    valid = _valid(labels, logits.shape[-1], ignore_index, None)
    correct, count = jnp.sum(valid & (jnp.argmax(logits, -1) == labels)), jnp.sum(valid)
    if axis_name is not None:
        correct, count = lax.psum(correct, axis_name), lax.psum(count, axis_name)
    return correct / jnp.maximum(count, 1)


def confusion_matrix(
    predictions: jax.Array, labels: jax.Array, num_classes: int, *, ignore_index: int | None = None, mask=None
) -> jax.Array:
    """int32 (num_classes, num_classes) counts of valid pixels, rows the true class, columns the predicted one.

    `predictions` are class indices in [0, num_classes) (an argmax), of the labels' shape. Jit-able with
    `num_classes` static; computed with `jnp.bincount` (benchmarks/README.md compares it with a one-hot product).
    """
    labels, predictions = jnp.asarray(labels), jnp.asarray(predictions)
    valid = _valid(labels, num_classes, ignore_index, mask)
    cells = num_classes * num_classes
    index = jnp.where(valid, labels.astype(jnp.int32) * num_classes + predictions.astype(jnp.int32), cells)
    counts = jnp.bincount(index.ravel(), length=cells + 1)[:cells]  # bin `cells` collects the invalid pixels
    return counts.reshape(num_classes, num_classes).astype(jnp.int32)


def segmentation_metrics(matrix) -> dict:
    """mIoU, per-class IoU, pixel accuracy and mean class accuracy of a confusion matrix (rows true), on the host.

    A class absent from both the labels and the predictions has IoU NaN and is left out of the mean; mean
    class accuracy averages over the classes present in the labels.

    Raises:
      ValueError: the matrix counts no pixels.
    """
    matrix = np.asarray(matrix, np.float64)
    total = matrix.sum()
    if total == 0:
        raise ValueError("the confusion matrix counts no pixels")
    correct = np.diag(matrix)
    true_count, predicted_count = matrix.sum(axis=1), matrix.sum(axis=0)
    union = true_count + predicted_count - correct
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, correct / union, np.nan)
        class_accuracy = np.where(true_count > 0, correct / true_count, np.nan)
    return {
        "miou": float(np.nanmean(iou)),
        "per_class_iou": iou,
        "pixel_accuracy": float(correct.sum() / total),
        "mean_class_accuracy": float(np.nanmean(class_accuracy)),
    }

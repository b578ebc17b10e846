"""Confusion matrices and the segmentation metrics derived from them (mIoU, pixel and class accuracy).

A confusion matrix is a sum over pixels, so per-device matrices combine with `lax.psum` and per-batch ones
by adding them up (`ConfusionMatrixAccumulator`); metrics are computed once, from the total over the whole
evaluation set, never averaged over batches.
"""

import jax
import jax.numpy as jnp
import numpy as np

IGNORE_INDEX = 255


def confusion_matrix(
    predictions: jax.Array, labels: jax.Array, num_classes: int, *, ignore_index: int = IGNORE_INDEX, mask=None
) -> jax.Array:
    """int32 (num_classes, num_classes) pixel counts, rows the true class, columns the predicted one.

    `predictions` are class indices in [0, num_classes) (an argmax), of the labels' shape.
    Pixels whose label is `ignore_index` or outside [0, num_classes), or where `mask` (per example (B,) or
    per pixel) is 0, are not counted. Jit-able with `num_classes` static. Computed with `jnp.bincount`:
    on CPU it is 4-6x (4 classes) and 60x (21 classes) faster than a one-hot matrix product at 8x64x64 pixels.
    """
    labels, predictions = jnp.asarray(labels), jnp.asarray(predictions)
    valid = (labels >= 0) & (labels < num_classes) & (labels != ignore_index)
    if mask is not None:
        mask = jnp.asarray(mask)
        valid &= mask.reshape(mask.shape + (1,) * (labels.ndim - mask.ndim)) > 0
    cells = num_classes * num_classes
    index = jnp.where(valid, labels.astype(jnp.int32) * num_classes + predictions.astype(jnp.int32), cells)
    counts = jnp.bincount(index.ravel(), length=cells + 1)[:cells]  # bin `cells` collects the invalid pixels
    return counts.reshape(num_classes, num_classes).astype(jnp.int32)


def segmentation_metrics(matrix) -> dict:
    """mIoU, per-class IoU, pixel accuracy and mean class accuracy of a confusion matrix (rows true).

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


class ConfusionMatrixAccumulator:
    """Sums confusion matrices over batches (int64 on the host); `metrics()` of the total."""

    def __init__(self, num_classes: int):
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def add(self, matrix) -> None:
        self.matrix += np.asarray(matrix, np.int64)

    def metrics(self) -> dict:
        return segmentation_metrics(self.matrix)

"""Semantic segmentation: per-pixel cross-entropy (+ Dice), confusion-matrix mIoU over the whole split."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from cnnjax.parallel import AXIS
from cnnjax.train.confusion_matrix import confusion_matrix, segmentation_metrics
from cnnjax.train.segmentation_losses import dice_loss, pixel_cross_entropy, pixel_cross_entropy_sums


@dataclasses.dataclass(frozen=True)
class Segmentation:
    """Batches hold 'image' (B, H, W, C), per-pixel 'label' (B, H, W) and, for evaluation, 'mask' (B,).

    Pixels labelled ``ignore_index`` count nowhere (losses, matrix).  The training loss is the global
    batch's: cross-entropy (PyTorch's weighted mean with ``class_weights``) plus ``dice_weight`` x soft
    Dice, exact on any number of devices (see `cnnjax.train.segmentation_losses`).
    """

    num_classes: int
    ignore_index: int = 255
    class_weights: tuple[float, ...] | None = None
    dice_weight: float = 0.0

    name = "segmentation"
    train_metric_names = ("pixel_accuracy",)  # the keys of train_metrics
    headline = "miou"

    def loss(self, logits, batch):
        labels = batch["label"]
        loss = pixel_cross_entropy(
            logits, labels, ignore_index=self.ignore_index, class_weights=self.class_weights, axis_name=AXIS
        )
        if self.dice_weight:
            loss += self.dice_weight * dice_loss(logits, labels, ignore_index=self.ignore_index, axis_name=AXIS)
        return loss

    def train_metrics(self, logits, batch) -> dict:
        labels = batch["label"]
        valid = (labels != self.ignore_index) & (labels >= 0) & (labels < self.num_classes)
        correct = lax.psum(jnp.sum(valid & (jnp.argmax(logits, -1) == labels)), AXIS)
        return {"pixel_accuracy": correct / jnp.maximum(lax.psum(jnp.sum(valid), AXIS), 1)}

    def eval_sums(self, logits, batch) -> dict:
        mask = batch["mask"]
        loss_sum, weight_sum = pixel_cross_entropy_sums(
            logits, batch["label"], ignore_index=self.ignore_index, class_weights=self.class_weights, mask=mask
        )
        predictions = jnp.argmax(logits, -1)
        matrix = confusion_matrix(
            predictions, batch["label"], self.num_classes, ignore_index=self.ignore_index, mask=mask
        )
        return {
            "confusion": matrix,
            "loss_sum": loss_sum,
            "weight_sum": weight_sum,
            "count": (mask > 0).sum(dtype=jnp.int32),
        }

    def summarize(self, totals: dict) -> dict:
        metrics = segmentation_metrics(totals["confusion"])
        return {
            "miou": metrics["miou"],
            "pixel_accuracy": metrics["pixel_accuracy"],
            "mean_class_accuracy": metrics["mean_class_accuracy"],
            "per_class_iou": [float(v) for v in metrics["per_class_iou"]],
            "loss": float(totals["loss_sum"]) / max(float(totals["weight_sum"]), 1e-12),
            "count": int(totals["count"]),
        }

    def describe(self, result: dict) -> str:
        return (
            f"mIoU {100 * result['miou']:.2f}% pixel accuracy {100 * result['pixel_accuracy']:.2f}% "
            f"loss {result['loss']:.4f} ({result['count']} images)"
        )

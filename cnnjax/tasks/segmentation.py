"""Semantic segmentation: per-pixel cross-entropy (+ Dice), confusion-matrix mIoU over the whole split."""

from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp

from cnnjax.data.segmentation_augment import IGNORE_INDEX, SegmentationPreprocess
from cnnjax.errors import InvalidInputError
from cnnjax.parallel import AXIS
from cnnjax.reporting.panels import write_segmentation_panels
from cnnjax.tasks.dense import DensePanels, preprocess_settings
from cnnjax.tasks.pixelwise import (
    confusion_matrix,
    dice_loss,
    pixel_accuracy,
    pixel_cross_entropy,
    pixel_cross_entropy_sums,
    segmentation_metrics,
)


@dataclasses.dataclass(frozen=True)
class Segmentation:
    """A `Task`. Batches hold 'image' (B, H, W, C), per-pixel 'label' (B, H, W) and, for evaluation, 'mask' (B,).

    Pixels labelled ``ignore_index`` count nowhere (losses, matrix).  The training loss is the global
    batch's: cross-entropy (PyTorch's weighted mean with ``class_weights``) plus ``dice_weight`` x soft
    Dice, exact on any number of devices (see `cnnjax.tasks.pixelwise`).
    """

    num_classes: int
    ignore_index: int = IGNORE_INDEX
    class_weights: tuple[float, ...] | None = None
    dice_weight: float = 0.0

    name = "segmentation"
    train_metric_names = ("pixel_accuracy",)
    headline = "miou"
    headline_higher_is_better = True
    model_task = "segmentation"
    wants_features = False

    @classmethod
    def from_config(cls, config, dataset) -> Segmentation:
        """Raises ValueError when `loss.class_weights` has not one weight per class of `dataset`."""
        num_classes, weights = dataset.info.num_classes, tuple(config.loss.class_weights) or None
        if weights is not None and len(weights) != num_classes:
            raise InvalidInputError(f"config.loss.class_weights has {len(weights)} entries for {num_classes} classes")
        return cls(
            num_classes=num_classes,
            ignore_index=config.loss.ignore_index,
            class_weights=weights,
            dice_weight=config.loss.dice_weight,
        )

    def loss(self, logits, batch, features):
        labels = batch["label"]
        loss = pixel_cross_entropy(
            logits, labels, ignore_index=self.ignore_index, class_weights=self.class_weights, axis_name=AXIS
        )
        if self.dice_weight:
            loss += self.dice_weight * dice_loss(logits, labels, ignore_index=self.ignore_index, axis_name=AXIS)
        return loss

    def train_metrics(self, logits, batch) -> dict:
        accuracy = pixel_accuracy(logits, batch["label"], ignore_index=self.ignore_index, axis_name=AXIS)
        return {"pixel_accuracy": accuracy}

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
        return f"{_metrics(result)} · loss {result['loss']:.4f} ({result['count']} images)"

    def headline_line(self, result: dict) -> str:
        return f"test {_metrics(result)} ({result['count']} images)"

    def preprocess(self, config, dataset) -> SegmentationPreprocess:
        return SegmentationPreprocess(**preprocess_settings(config, dataset), ignore_index=self.ignore_index)

    def panels(self, model, dataset, preprocess) -> DensePanels:
        """Class maps: the argmax of the logits, in the colours of `dataset`'s classes."""
        draw = functools.partial(write_segmentation_panels, class_names=dataset.info.class_names)
        return DensePanels(model, preprocess, lambda logits: jnp.argmax(logits, -1), draw)


def _metrics(result: dict) -> str:
    return f"mIoU {result['miou']:.2%} · pixel accuracy {result['pixel_accuracy']:.2%}"

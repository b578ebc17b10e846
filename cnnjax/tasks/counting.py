"""Counting by density regression: a dense model predicts a density map whose sum is the object count."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from cnnjax.data.density_augment import DensityPreprocess
from cnnjax.parallel import AXIS
from cnnjax.reporting.panels import write_density_panels
from cnnjax.tasks import count_losses
from cnnjax.tasks.dense import DensePanels, preprocess_settings


@dataclasses.dataclass(frozen=True)
class Counting:
    """A `Task`. Batches hold 'image' (B, H, W, C), the target density 'label' float32 (B, H, W) (it sums to
    the image's count) and, for evaluation, 'mask' (B,). It trains segmentation models built with one output
    channel.

    The model's one output channel is the density times ``density_scale``: a sigma-3 Gaussian peaks at 0.018
    per pixel, so the scaled target (peak 1.8 at 100) keeps the pixel MSE and its gradients at a workable size
    (the usual practice of multiplying density maps by 100-1000).  Loss: the mean
    over pixels of (output - density_scale * target)^2 (equal shards: the device mean is the global batch's);
    counts are output sums / density_scale, the target count is the target map's sum.  ``count_weight`` adds
    ``count_weight * (predicted count - true count)^2`` averaged over images, which ties the map's mass to
    the count directly.
    """

    density_scale: float = 100.0
    count_weight: float = 0.0

    name = "counting"
    train_metric_names = ("count_mae",)
    headline = "count_mae"
    headline_higher_is_better = False
    model_task = "segmentation"
    wants_features = False

    @classmethod
    def from_config(cls, config, dataset) -> Counting:
        return cls(density_scale=config.loss.density_scale, count_weight=config.loss.count_weight)

    def density(self, logits):
        """(B, H, W, 1) model output -> (B, H, W) predicted density."""
        return count_losses.density(logits, self.density_scale)

    def loss(self, logits, batch, features):
        loss = count_losses.squared_errors(logits, batch["label"], self.density_scale).mean()
        if self.count_weight:
            loss += self.count_weight * (self._count_errors(logits, batch) ** 2).mean()
        return loss

    def _count_errors(self, logits, batch):
        return count_losses.count_errors(logits, batch["label"], self.density_scale)

    def train_metrics(self, logits, batch) -> dict:
        return {"count_mae": count_losses.count_mae(logits, batch["label"], self.density_scale, AXIS)}

    def eval_sums(self, logits, batch) -> dict:
        real, targets = batch["mask"] > 0, batch["label"]
        errors = jnp.where(real, self._count_errors(logits, batch), 0.0)
        squared = count_losses.squared_errors(logits, targets, self.density_scale)
        return {
            "abs_error_sum": jnp.abs(errors).sum(),
            "squared_error_sum": (errors**2).sum(),
            "target_count_sum": jnp.where(real, targets.sum((1, 2)), 0.0).sum(),
            "loss_sum": jnp.where(real, squared.mean((1, 2)), 0.0).sum(),
            "count": real.sum(dtype=jnp.int32),
        }

    def summarize(self, totals: dict) -> dict:
        count = int(totals["count"])
        return {
            "count_mae": float(totals["abs_error_sum"]) / count,
            "count_rmse": (float(totals["squared_error_sum"]) / count) ** 0.5,
            "mean_count": float(totals["target_count_sum"]) / count,
            "loss": float(totals["loss_sum"]) / count,
            "count": count,
        }

    def describe(self, result: dict) -> str:
        return f"{_metrics(result)} · loss {result['loss']:.4f} ({_sizes(result)})"

    def headline_line(self, result: dict) -> str:
        return f"test {_metrics(result)} ({_sizes(result)})"

    def preprocess(self, config, dataset) -> DensityPreprocess:
        return DensityPreprocess(**preprocess_settings(config, dataset))

    def panels(self, model, dataset, preprocess) -> DensePanels:
        """Density maps, titled with their counts."""
        return DensePanels(model, preprocess, self.density, write_density_panels)


def _metrics(result: dict) -> str:
    return f"count MAE {result['count_mae']:.3f} · RMSE {result['count_rmse']:.3f}"


def _sizes(result: dict) -> str:
    return f"mean count {result['mean_count']:.2f}, {result['count']} images"

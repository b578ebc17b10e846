"""Counting by density regression: a dense model predicts a density map whose sum is the object count."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from cnnjax.parallel import AXIS


@dataclasses.dataclass(frozen=True)
class Counting:
    """Batches hold 'image' (B, H, W, C), the target density 'label' float32 (B, H, W) (it sums to the
    image's count) and, for evaluation, 'mask' (B,).

    The model's one output channel is the density times ``density_scale``: a sigma-3 Gaussian peaks at
    0.018 per pixel, so the scaled target (peak ~1.8 at 100) keeps the pixel MSE and its gradients at a
    workable size (the usual practice of multiplying density maps by 100-1000).  Loss: the mean over pixels
    of (output - density_scale * target)^2 (equal shards: the device mean is the global batch's); counts are
    output sums / density_scale, the target count is the target map's sum.  ``count_weight`` adds
    ``count_weight * (predicted count - true count)^2`` averaged over images, which ties the map's mass to
    the count directly.
    """

    density_scale: float = 100.0
    count_weight: float = 0.0

    name = "counting"
    train_metric_names = ("count_mae",)  # the keys of train_metrics
    headline = "count_mae"  # lower is better

    def density(self, logits):
        """(B, H, W, 1) model output -> (B, H, W) predicted density."""
        return logits[..., 0] / self.density_scale

    def _squared_errors(self, logits, batch):
        return (logits[..., 0].astype(jnp.float32) - self.density_scale * batch["label"]) ** 2

    def _count_errors(self, logits, batch):
        return self.density(logits.astype(jnp.float32)).sum((1, 2)) - batch["label"].sum((1, 2))

    def loss(self, logits, batch):
        loss = self._squared_errors(logits, batch).mean()
        if self.count_weight:
            loss += self.count_weight * (self._count_errors(logits, batch) ** 2).mean()
        return loss

    def train_metrics(self, logits, batch) -> dict:
        return {"count_mae": lax.pmean(jnp.abs(self._count_errors(logits, batch)).mean(), AXIS)}

    def eval_sums(self, logits, batch) -> dict:
        real = batch["mask"] > 0
        errors = jnp.where(real, self._count_errors(logits, batch), 0.0)
        return {
            "abs_error_sum": jnp.abs(errors).sum(),
            "squared_error_sum": (errors**2).sum(),
            "target_count_sum": jnp.where(real, batch["label"].sum((1, 2)), 0.0).sum(),
            "loss_sum": jnp.where(real, self._squared_errors(logits, batch).mean((1, 2)), 0.0).sum(),
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
        return (
            f"count MAE {result['count_mae']:.3f} RMSE {result['count_rmse']:.3f} (mean count "
            f"{result['mean_count']:.2f}) loss {result['loss']:.4f} ({result['count']} images)"
        )

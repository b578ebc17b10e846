"""Image classification: softmax cross-entropy (optionally label-smoothed), top-1 accuracy."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from cnnjax.parallel import AXIS
from cnnjax.train.losses import cross_entropy


@dataclasses.dataclass(frozen=True)
class Classification:
    """Batches hold 'image' (B, H, W, C), 'label' (B,) and, for evaluation, 'mask' (B,) (1 = real example)."""

    label_smoothing: float = 0.0

    name = "classification"
    headline = "accuracy"  # the metric the summary leads with

    def loss(self, logits, batch):
        """This device's mean loss (equal shards: the mean over devices is the global batch's)."""
        return cross_entropy(logits, batch["label"], self.label_smoothing).mean()

    def train_metrics(self, logits, batch) -> dict:
        return {"accuracy": lax.pmean(jnp.mean(jnp.argmax(logits, -1) == batch["label"]), AXIS)}

    def eval_sums(self, logits, batch) -> dict:
        real = batch["mask"] > 0
        loss = jnp.where(real, cross_entropy(logits, batch["label"]), 0.0)
        return {
            "loss_sum": loss.sum(),
            "correct": (real & (jnp.argmax(logits, -1) == batch["label"])).sum(dtype=jnp.int32),
            "count": real.sum(dtype=jnp.int32),
        }

    def summarize(self, totals: dict) -> dict:
        count = int(totals["count"])
        return {"loss": float(totals["loss_sum"]) / count, "accuracy": int(totals["correct"]) / count, "count": count}

    def describe(self, result: dict) -> str:
        return f"accuracy {100 * result['accuracy']:.2f}% loss {result['loss']:.4f} ({result['count']} examples)"

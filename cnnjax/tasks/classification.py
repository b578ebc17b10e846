"""Image classification: softmax cross-entropy (optionally label-smoothed), top-1 accuracy."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from cnnjax.data.preprocess import Preprocess
from cnnjax.errors import InvalidInputError
from cnnjax.parallel import AXIS
from cnnjax.tasks.losses import accuracy, cross_entropy, googlenet_soft_loss, one_hot_targets, soft_cross_entropy


@dataclasses.dataclass(frozen=True)
class Classification:
    """A `Task`. Batches hold 'image' (B, H, W, C), 'label' (B,) and, for evaluation, 'mask' (B,).

    ``aux_weight > 0``: the train step asks the model for its features and adds ``aux_weight`` times
    the cross-entropy of each auxiliary head (features ``aux1``, ``aux2``…: GoogLeNet with
    ``aux_logits=True``; the paper's weight is 0.3); a model without such heads is an error."""

    label_smoothing: float = 0.0
    aux_weight: float = 0.0

    name = "classification"
    train_metric_names = ("accuracy",)
    headline = "accuracy"
    headline_higher_is_better = True
    model_task = "classification"

    @classmethod
    def from_config(cls, config, dataset) -> Classification:
        return cls(label_smoothing=config.loss.label_smoothing, aux_weight=config.loss.aux_weight)

    @property
    def wants_features(self) -> bool:
        return self.aux_weight > 0

    def loss(self, logits, batch, features):
        """This device's mean loss (equal shards: the mean over devices is the global batch's), against the batch's
        soft 'target' where mixup / CutMix made one (smoothing already in it), else the smoothed one-hot labels."""
        if "target" in batch:
            targets = batch["target"]
        else:
            targets = one_hot_targets(batch["label"], logits.shape[-1], self.label_smoothing)
        if not self.wants_features:
            return soft_cross_entropy(logits, targets).mean()
        if not any(name.startswith("aux") for name in features):
            raise InvalidInputError(
                f"config.loss.aux_weight is {self.aux_weight} but the model has no auxiliary heads (its features: "
                f"{', '.join(features)}); GoogLeNet builds them with --config.model.overrides.aux_logits=True"
            )
        return googlenet_soft_loss(logits, features, targets, self.aux_weight)

    def train_metrics(self, logits, batch) -> dict:
        return {"accuracy": accuracy(logits, batch["label"], AXIS)}

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

    def headline_line(self, result: dict) -> str:
        return f"test accuracy {result['accuracy']:.2%} ({result['count']} examples)"

    def preprocess(self, config, dataset) -> Preprocess:
        return image_preprocess(config, dataset)

    def panels(self, model, dataset, preprocess) -> None:
        """No panels: a class label has no picture."""
        return None


def image_preprocess(config, dataset) -> Preprocess:
    """The preprocessing of a task with a label per image (classification, multi-label) for the config's `dataset`
    section: 'per_pixel_mean' subtracts the train split's mean image (cached on disk), else per-channel statistics."""
    c, info = config.dataset, dataset.info
    mean, std = info.mean, info.std
    if c.normalization == "per_pixel_mean":
        mean, std = dataset.mean_image(c.train_split, c.image_size), (1.0,) * len(info.std)
    return Preprocess(
        image_size=c.image_size,
        mean=mean,
        std=std,
        pad_crop=c.pad_crop,
        hflip=c.hflip,
        pad_mode=c.pad_mode,
        train_crop=c.train_crop,
        eval_resize=c.eval_resize,
        auto_augment=c.auto_augment,
        auto_augment_num_ops=c.auto_augment_num_ops,
        auto_augment_magnitude=c.auto_augment_magnitude,
    )

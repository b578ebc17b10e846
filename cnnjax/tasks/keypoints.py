"""Keypoint estimation by heat maps: a dense model predicts one map per keypoint; its peak is the keypoint."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnjax.data.keypoint_augment import KeypointPreprocess
from cnnjax.data.preprocess import Preprocessing, display_images
from cnnjax.parallel import AXIS
from cnnjax.reporting.keypoint_panels import write_keypoint_panels
from cnnjax.tasks.dense import preprocess_settings
from cnnjax.tasks.keypoint_metrics import cross_entropies, decode, keypoint_metrics, keypoint_sums, squared_errors

PCK_THRESHOLD = 0.1  # PCK@0.1: a keypoint is found within 0.1 x the object's size


@dataclasses.dataclass(frozen=True)
class Keypoints:
    """A `Task`. Batches hold 'image' (B, H, W, C), the keypoints 'label' float32 (B, K, 2) (row, col) in pixels,
    'visible' (B, K) (0: unlabelled or out of view), the object 'size' (B,) and, for evaluation, 'mask' (B,). It
    trains segmentation models built with one output channel per keypoint.

    Target of channel k: a Gaussian of std ``sigma`` pixels at keypoint k (`keypoint_metrics.heatmaps`), drawn on
    the device from the keypoints. Loss (``heatmap_loss``, `keypoint_metrics` says why two): 'softmax', the
    cross-entropy of the channel's softmax over pixels against the normalised Gaussian, or 'mse', the squared error
    against the Gaussian of peak 1 over every pixel; both averaged over channels, invisible keypoints' counting 0:
    equal shares, so the device mean is the global batch's. Prediction: each channel's sub-pixel peak
    (`keypoint_metrics.decode`). Metrics over visible keypoints of real examples (exact sums over the split):
    PCK@``threshold`` (the headline: the fraction within ``threshold`` x the object size), the mean pixel error,
    both per keypoint too.
    """

    sigma: float = 2.0
    heatmap_loss: str = "softmax"
    threshold: float = PCK_THRESHOLD

    name = "keypoints"
    train_metric_names = ("pck",)
    headline = "pck"
    headline_higher_is_better = True
    model_task = "segmentation"
    wants_features = False

    @classmethod
    def from_config(cls, config, dataset) -> Keypoints:
        return cls(sigma=config.loss.heatmap_sigma, heatmap_loss=config.loss.heatmap_loss)

    def _losses(self, logits, batch):
        """(B,): each example's loss."""
        losses = cross_entropies if self.heatmap_loss == "softmax" else squared_errors
        return losses(logits, batch["label"], batch["visible"], self.sigma)

    def loss(self, logits, batch, features):
        return self._losses(logits, batch).mean()

    def predict(self, logits):
        """(B, K, 2) keypoints (row, col) of the model's output (B, H, W, K)."""
        return decode(logits, log_space=self.heatmap_loss == "softmax")

    def heatmaps(self, logits):
        """(B, H, W, K) the model's heat maps: for 'softmax', each channel's probabilities over the pixels."""
        return jax.nn.softmax(logits, axis=(1, 2)) if self.heatmap_loss == "softmax" else logits

    def _sums(self, logits, batch, visible):
        return keypoint_sums(self.predict(logits), batch["label"], visible, batch["size"], self.threshold)

    def train_metrics(self, logits, batch) -> dict:
        sums = lax.psum(self._sums(logits, batch, batch["visible"]), AXIS)
        return {"pck": sums["hits"].sum() / jnp.maximum(sums["visible"].sum(), 1)}

    def eval_sums(self, logits, batch) -> dict:
        real = batch["mask"] > 0
        sums = self._sums(logits, batch, batch["visible"] * real[:, None])
        loss_sum = jnp.where(real, self._losses(logits, batch), 0.0).sum()
        return {**sums, "loss_sum": loss_sum, "count": real.sum(dtype=jnp.int32)}

    def summarize(self, totals: dict) -> dict:
        count = int(totals["count"])
        return {
            **keypoint_metrics(totals),
            "visible_keypoints": int(np.sum(totals["visible"])),
            "loss": float(totals["loss_sum"]) / count,
            "count": count,
        }

    def describe(self, result: dict) -> str:
        return f"{self._metrics(result)} · loss {result['loss']:.5f} ({_sizes(result)})"

    def headline_line(self, result: dict) -> str:
        return f"test {self._metrics(result)} ({_sizes(result)})"

    def _metrics(self, result: dict) -> str:
        return f"PCK@{self.threshold:g} {result['pck']:.2%} · mean error {result['mean_error']:.2f} px"

    def preprocess(self, config, dataset) -> KeypointPreprocess:
        return KeypointPreprocess(**preprocess_settings(config, dataset), flip_pairs=dataset.info.flip_pairs)

    def panels(self, model, dataset, preprocess) -> KeypointPanels:
        return KeypointPanels(model, preprocess, self, dataset.info.class_names)


def _sizes(result: dict) -> str:
    return f"{result['visible_keypoints']} keypoints in {result['count']} images"


class KeypointPanels:
    """A `PanelWriter`: the true and predicted keypoints over each image, and the predicted heat maps
    (`write_keypoint_panels`); the model's prediction is jitted once at construction."""

    def __init__(self, model, preprocess: Preprocessing, task: Keypoints, names: tuple[str, ...]):
        self._on_device, self._names = preprocess.on_device, names

        def predict(variables, images):
            logits = model.apply(variables, images, train=False)
            return task.predict(logits), task.heatmaps(logits)

        self._predict = jax.jit(predict)

    def __call__(self, path: str, variables: dict, batch: dict, title: str) -> None:
        points, maps = self._predict(variables, self._on_device(batch)["image"])
        write_keypoint_panels(
            path,
            images=display_images(batch),
            labels=batch["label"],
            visible=batch["visible"],
            predictions=np.asarray(points),
            heatmaps=np.asarray(maps),
            names=self._names,
            title=title,
        )

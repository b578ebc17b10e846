"""What the dense tasks share: their preprocessing settings (segmentation, counting, keypoints), and evaluation
panels of a model's per-pixel prediction for the first examples of a split beside the image and the ground truth
(segmentation, counting)."""

from collections.abc import Callable

import jax
import numpy as np

from cnnjax.data.preprocess import Preprocessing, display_images


def preprocess_settings(config, dataset) -> dict:
    """The keyword arguments that `SegmentationPreprocess`, `DensityPreprocess` and `KeypointPreprocess` take from
    the config's `dataset` section and the dataset's statistics."""
    c, info = config.dataset, dataset.info
    return {
        "image_size": c.image_size,
        "mean": info.mean,
        "std": info.std,
        "scale_range": tuple(c.scale_range),
        "hflip": c.hflip,
    }


class DensePanels:
    """A `PanelWriter`: `predict(model output) -> per-pixel prediction`, jitted with the model once at
    construction (every later call with batches of one shape reuses the compiled program), and
    `draw(path, images=, labels=, predictions=, title=)`."""

    def __init__(self, model, preprocess: Preprocessing, predict: Callable, draw: Callable):
        self._on_device, self._draw = preprocess.on_device, draw
        self._predict = jax.jit(lambda variables, images: predict(model.apply(variables, images, train=False)))

    def __call__(self, path: str, variables: dict, batch: dict, title: str) -> None:
        images = self._on_device(batch)["image"]
        predictions = np.asarray(self._predict(variables, images))
        self._draw(path, images=display_images(batch), labels=batch["label"], predictions=predictions, title=title)

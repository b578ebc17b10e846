"""A trained run on image files of any size (`cnnjax predict`): what each task answers for one image.

Every image is read as the run's dataset stores images (its channel count: 'L' or 'RGB') and normalised as the
run's evaluation normalises them ((x / 255 - mean) / std per channel):

- classification: the image goes through the run's evaluation preprocessing (resized, or resized and centre
  cropped, to the training size, as the validation images were), then softmax; :func:`classify` gives the top
  k.  :func:`class_maps` gives, for a classifier with a dense head (:mod:`cnnjax.inspect.convolutionalize`),
  the class probabilities at every position of the image at its own size.
- multi-label: the same preprocessing, then a sigmoid per class (:func:`image_logits`).
- segmentation and counting (dense outputs) run on the image at its own size: a segmenter's output has its
  input's H x W whatever the size (:mod:`cnnjax.models.segmenter`), so the mask / density map is the image's.
  The count is the density map's sum (`cnnjax.tasks.counting`).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from cnnjax.data import device_ops, image_io
from cnnjax.errors import InvalidInputError
from cnnjax.inspect.convolutionalize import convolutionalize
from cnnjax.inspect.trained_run import TrainedRun


def read_image(path: str, channels: int) -> np.ndarray:
    """(H, W, channels) uint8 pixels of the image file at ``path``; an unreadable file raises
    ``InvalidInputError`` naming it."""
    try:
        with open(path, "rb") as file:
            return image_io.to_array(image_io.open_image(file.read()), channels)
    except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
        raise InvalidInputError(f"cannot read {path} as an image: {e}") from None


def normalized(run: TrainedRun, pixels: np.ndarray) -> jax.Array:
    """uint8 (H, W, C) -> the model's float32 input (1, H, W, C), normalised per channel."""
    mean = np.asarray(run.preprocess.mean, np.float32)
    if mean.ndim != 1:
        raise InvalidInputError(
            "this run normalises with a per-pixel mean image of its training size: it takes images at that size only"
        )
    return device_ops.normalize(device_ops.unit_range(pixels[None]), mean, run.preprocess.std)


@dataclasses.dataclass(frozen=True)
class Classified:
    top_k: list[tuple[int, str, float]]  # (class, name, probability), most probable first


def image_logits(run: TrainedRun, pixels: np.ndarray) -> jax.Array:
    """The model's logits (num_classes,) for one image, preprocessed as the run's evaluation does."""
    example = run.preprocess.apply({"image": pixels, "label": 0})
    batch = run.preprocess.on_device({"image": example["image"][None]})
    return run.apply(batch["image"])[0]


def classify(run: TrainedRun, pixels: np.ndarray, k: int) -> Classified:
    """The ``k`` most probable classes of one image, preprocessed as the run's evaluation does."""
    probabilities = np.asarray(jax.nn.softmax(image_logits(run, pixels)))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return Classified([(int(c), run.class_names[c], float(probabilities[c])) for c in order])


def class_maps(run: TrainedRun, pixels: np.ndarray) -> np.ndarray:
    """(H', W', num_classes) class probabilities at every window of the training size on the image at its
    own size (:func:`~cnnjax.inspect.convolutionalize.convolutionalize`)."""
    scores = convolutionalize(run.model, run.variables, run.image_shape)
    return np.asarray(jax.nn.softmax(jax.jit(scores)(normalized(run, pixels))[0], axis=-1))


def dense_output(run: TrainedRun, pixels: np.ndarray) -> np.ndarray:
    """The model's (H, W, channels) output on one image at the image's own size."""
    return np.asarray(run.apply(normalized(run, pixels))[0])

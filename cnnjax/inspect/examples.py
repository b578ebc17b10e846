"""Images to inspect a run on, as the pixels its model is fed: float32 (N, H, W, C) in [0, 1].

Dataset examples go through the run's evaluation preprocessing (no augmentation) on the host, so they are
exactly the images evaluation feeds the model, before normalisation; their labels are class indices, or
(H, W) class maps for segmentation.  An image file is resized (bilinear, aspect not kept) to the model's
input size, in the run's channel count.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from cnnjax.data import image_io
from cnnjax.errors import InvalidInputError
from cnnjax.inspect.trained_run import TrainedRun

PIXEL_LEVELS = 255.0


def dataset_examples(run: TrainedRun, indices, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(pixels, labels) of examples ``indices`` of ``split``; an index outside the split raises
    ``InvalidInputError``."""
    source = run.dataset.open(split)
    indices = [int(i) for i in indices]
    outside = [i for i in indices if not 0 <= i < len(source)]
    if outside:
        raise InvalidInputError(f"example {outside[0]} is outside the {split} split (0..{len(source) - 1})")
    examples = [run.preprocess.apply(source[i]) for i in indices]
    pixels = np.stack([e["image"] for e in examples]).astype(np.float32) / np.float32(PIXEL_LEVELS)
    return pixels, np.stack([np.asarray(e["label"]) for e in examples])


def image_file(run: TrainedRun, path: str) -> np.ndarray:
    """(1, H, W, C) pixels of the image file ``path`` at the run's input size."""
    if not os.path.isfile(path):
        raise InvalidInputError(f"no image file {path}")
    height, width, channels = run.image_shape
    with Image.open(path) as image:
        pixels = image_io.to_array(image.convert("RGB").resize((width, height), Image.BILINEAR), channels)
    return (pixels.astype(np.float32) / np.float32(PIXEL_LEVELS))[None]

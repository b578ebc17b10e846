"""TFDS builder for a generated multi-label dataset: 1-3 objects of the 10 shape classes per 32x32 image.

The multi-object variant of `shapes_classification_builder` (its outlines, backgrounds, clutter, colours and
textures, drawn by its own functions with its 'standard' nuisance settings). Each example is an RGB image,
uint8 (32, 32, 3), and 'label', a multi-hot uint8 (10,) vector: 1 for each class (`CLASS_NAMES`) drawn in it.

Generation of example i of a split uses only `np.random.default_rng([SEED, split id, i])`:
1. The background and 0-2 clutter pieces, as in `shapes_classification`.
2. 1-3 distinct classes, uniformly; each object at a radius of `RADIUS` x 16 px, its centre at least 0.8 x its
   radius inside the image and, where one of `PLACEMENT_TRIES` draws allows, at least `SEPARATION` x the sum
   of the radii from every earlier object's (objects may overlap a little, never hide one another wholly).
3. Gaussian noise of std 0.03 and rounding to uint8.

Each class is in about a fifth of the images (2 objects on average over 10 classes): a constant score's
average precision is that fraction, the bar a trained model must clear.

Splits: train 4,000 / validation 500 / test 500 examples, stored in index order. `MEAN`, `STD`: per-channel
mean and (population) std over the train images in [0, 1] pixel units.
"""

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data import shapes_classification_builder as single
from cnnjax.data.shapes_classification_builder import CLASS_NAMES, IMAGE_SIZE

SPLIT_SIZES = {"train": 4_000, "validation": 500, "test": 500}
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
SEED = 20263
OBJECTS = (1, 3)  # objects an image, inclusive range
RADIUS = (0.3, 0.5)  # object radius / half the image size
SEPARATION = 0.8  # centres at least this x the sum of the radii apart, where PLACEMENT_TRIES allow
PLACEMENT_TRIES = 20
NUISANCE = single.Difficulty(name="multilabel", clutter=(0, 2))  # the standard config's settings, less clutter
MEAN = (0.5027, 0.5004, 0.5022)
STD = (0.2759, 0.2757, 0.2769)


def generate_example(split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Example `index` of `split`: (image uint8 (32, 32, 3), multi-hot label uint8 (10,))."""
    rng = np.random.default_rng([SEED, SPLIT_IDS[split], index])
    x, y = single.sample_grid()
    image = single.background(rng, NUISANCE.textured)
    for _ in range(rng.integers(NUISANCE.clutter[0], NUISANCE.clutter[1] + 1)):
        single.draw_clutter(rng, image, x, y)
    classes = rng.choice(len(CLASS_NAMES), rng.integers(OBJECTS[0], OBJECTS[1] + 1), replace=False)
    placed = []  # (centre, radius) of the objects drawn so far
    for label in classes:
        radius = rng.uniform(*RADIUS) * IMAGE_SIZE / 2
        centre = _place(rng, radius, placed)
        placed.append((centre, radius))
        single.draw_object(rng, image, CLASS_NAMES[label], centre, radius, NUISANCE)
    image = image + rng.normal(0, NUISANCE.noise, image.shape)
    label = np.zeros(len(CLASS_NAMES), np.uint8)
    label[classes] = 1
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), label


def _place(rng: np.random.Generator, radius: float, placed: list) -> np.ndarray:
    """A centre (x, y) 0.8 x `radius` inside the image, apart from the `placed` objects (module docstring) when one
    of `PLACEMENT_TRIES` draws is; else the last draw."""
    margin = 0.8 * radius
    for _ in range(PLACEMENT_TRIES):
        centre = rng.uniform(margin, IMAGE_SIZE - margin, 2)
        if all(np.hypot(*(centre - other)) >= SEPARATION * (radius + r) for other, r in placed):
            break
    return centre


class ShapesMultilabel(tfds.core.GeneratorBasedBuilder):
    """Generated images of 1-3 objects of the 10 shape classes, labelled by the set of classes present."""

    name = "shapes_multilabel"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8, encoding="bytes"),
                    "label": tfds.features.Tensor(shape=(len(CLASS_NAMES),), dtype=np.uint8),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # example i of a split is generate_example(split, i)
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Generated: nothing to download.
        return {split: self._generate_examples(split, size) for split, size in SPLIT_SIZES.items()}

    def _generate_examples(self, split, size):
        for index in range(size):
            image, label = generate_example(split, index)
            yield index, {"image": image, "label": label}

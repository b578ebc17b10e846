"""Launching experiment files through `cnnjax train`, on real data or on learnable stand-ins for datasets
that are not on disk (`tfds.testing.mock_data` with examples a model can learn)."""

import json
import os
import zlib

import numpy as np
import tensorflow_datasets as tfds
from subprocesses import IN_TRAINER_DATA
from tfds_fakes import fake_prepared

from cnnjax.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = 20  # standard deviation, in pixel levels, of the noise on every stand-in image


def experiment(name: str) -> str:
    return os.path.join(REPO, "experiments", name)


def train(workdir, config: str, *overrides: str) -> int:
    overrides = (*IN_TRAINER_DATA, *overrides)
    return main(["train", "--config", config, "--workdir", str(workdir), *[f"--config.{o}" for o in overrides]])


def colour(index: int) -> np.ndarray:
    """The index-th of 27 colours, each at least 127 levels from every other in some channel."""
    return np.array([index % 3, index // 3 % 3, index // 9 % 3]) * 127


def noisy(rng, shape, colours: np.ndarray) -> np.ndarray:
    return np.clip(colours + rng.normal(0, NOISE, (*shape, 3)), 0, 255).astype(np.uint8)


def image_shape(rng, image_size: int | None) -> tuple[int, int]:
    return (image_size, image_size) if image_size else tuple(rng.integers(40, 90, size=2))


def split_rng(split: str):
    return np.random.default_rng(zlib.crc32(split.encode()))  # other examples in every split


def coloured_classes(size: int, num_labels: int, image_size: int | None):
    """An `as_data_source_fn`: `size` examples a split, each image the colour of its label (one of
    `num_labels`, drawn at random) plus noise; square `image_size` images, or sizes of 40-89 px."""

    def as_data_source(builder, split, **kwargs):
        rng = split_rng(split)
        labels = rng.integers(0, num_labels, size)
        return [{"image": noisy(rng, image_shape(rng, image_size), colour(y)), "label": int(y)} for y in labels]

    return as_data_source


def pets_like(size: int):
    """An `as_data_source_fn` of Oxford-IIIT Pet stand-ins: a pet-coloured box (trimap 1) with a 2-px border
    band (3) on a background colour (2), in images of 40-89 px."""

    def as_data_source(builder, split, **kwargs):
        rng, examples = split_rng(split), []
        for _ in range(size):
            height, width = image_shape(rng, None)
            top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
            bottom, right = top + rng.integers(height // 4, height // 2), left + rng.integers(width // 4, width // 2)
            mask = np.full((height, width, 1), 2, np.uint8)
            mask[max(top - 2, 0) : bottom + 2, max(left - 2, 0) : right + 2] = 3
            mask[top:bottom, left:right] = 1
            colours = np.array([colour(4), colour(13), colour(22)])[mask[..., 0] - 1]
            examples.append({"image": noisy(rng, (height, width), colours), "segmentation_mask": mask, "label": 0})
        return examples

    return as_data_source


def train_on_stand_in(tmp_path, dataset: str, as_data_source, config: str, *overrides: str, splits, size: int):
    """Trains `config` on `dataset`'s stand-in examples (`as_data_source`, `size` a split); returns the exit code."""
    data_dir = str(tmp_path / "data")
    fake_prepared(dataset, data_dir, size=size, splits=splits)
    with tfds.testing.mock_data(num_examples=size, data_dir=data_dir, as_data_source_fn=as_data_source):
        return train(tmp_path / "run", config, *overrides, f"dataset.data_dir='{data_dir}'")


def summary(workdir) -> dict:
    return json.loads((workdir / "summary.json").read_text())

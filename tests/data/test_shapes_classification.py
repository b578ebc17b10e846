"""The generated shapes_classification data: deterministic examples, balanced classes, outlines checked against
matplotlib's point-in-polygon, builder configs reached by name, and the easy config's statistics as stored."""

import matplotlib.path
import numpy as np
import pytest

from cnnjax.data import catalog
from cnnjax.data import shapes_classification_builder as builder
from cnnjax.errors import InvalidInputError

CONFIGS = {config.name: config for config in builder.DIFFICULTIES}


def test_examples_are_deterministic_balanced_and_differ_by_split_and_config():
    image, label = builder.generate_example(CONFIGS["standard"], "train", 13)
    again, _ = builder.generate_example(CONFIGS["standard"], "train", 13)
    assert image.dtype == np.uint8 and image.shape == (32, 32, 3) and label == 3
    assert np.array_equal(image, again)
    assert not np.array_equal(image, builder.generate_example(CONFIGS["standard"], "test", 13)[0])
    assert not np.array_equal(image, builder.generate_example(CONFIGS["hard"], "train", 13)[0])
    labels = [builder.generate_example(CONFIGS["easy"], "validation", i)[1] for i in range(30)]
    assert np.bincount(labels).tolist() == [3] * len(builder.CLASS_NAMES)


def test_polygon_outlines_match_matplotlib_and_the_round_ones_their_areas():
    rng = np.random.default_rng(0)
    u, v = rng.uniform(-1.1, 1.1, (2, 20_000))
    for name, vertices in builder._POLYGONS.items():
        expected = matplotlib.path.Path(vertices).contains_points(np.stack([u, v], 1))
        assert np.mean(builder.inside_outline(name, u, v) == expected) > 0.999, name  # points on an edge may differ
    area = {name: np.mean(builder.inside_outline(name, u, v)) * 2.2**2 for name in ("circle", "ring", "crescent")}
    assert area["circle"] == pytest.approx(np.pi, rel=0.03)
    assert area["ring"] == pytest.approx(np.pi * (1 - 0.55**2), rel=0.05)
    assert 0.2 * np.pi < area["crescent"] < 0.6 * np.pi


def test_builder_configs_by_name_with_their_statistics(data_dir):
    info = catalog.ensure_prepared("shapes_classification/easy", data_dir)
    assert info.class_names == builder.CLASS_NAMES and info.image_shape == (32, 32, 3)
    assert info.split_sizes == builder.SPLIT_SIZES and (info.mean, info.std) == builder.STATS["easy"]
    train = catalog.open_split("shapes_classification/easy", "train", data_dir)
    pixels = np.stack([train[i]["image"] for i in range(len(train))]).reshape(-1, 3) / 255.0
    assert np.allclose(pixels.mean(0), info.mean, atol=1e-4) and np.allclose(pixels.std(0), info.std, atol=1e-4)
    assert len(catalog.open_split("shapes_classification/easy", "train[:1000]", data_dir)) == 1000
    with pytest.raises(
        InvalidInputError, match="has no builder config 'hardest'; use one of shapes_classification/easy"
    ):
        catalog.ensure_prepared("shapes_classification/hardest", data_dir)

"""The generated shapes_multilabel data: deterministic examples of 1-3 distinct classes with their multi-hot labels,
the catalog's multi-label view of it, and its statistics as stored."""

import numpy as np

from cnnjax.data import catalog
from cnnjax.data import shapes_multilabel_builder as builder
from cnnjax.data.shapes_classification_builder import CLASS_NAMES

NAME = "shapes_multilabel"


def test_examples_are_deterministic_with_one_to_three_distinct_classes():
    image, label = builder.generate_example("train", 7)
    again, same = builder.generate_example("train", 7)
    assert image.dtype == np.uint8 and image.shape == (32, 32, 3) and np.array_equal(image, again)
    assert label.dtype == np.uint8 and label.shape == (len(CLASS_NAMES),) and np.array_equal(label, same)
    assert not np.array_equal(image, builder.generate_example("test", 7)[0])
    labels = np.stack([builder.generate_example("validation", i)[1] for i in range(60)])
    assert set(np.unique(labels)) == {0, 1} and set(labels.sum(1)) == {1, 2, 3}
    assert labels.any(0).all(), "every class appears"


def test_the_catalog_serves_it_for_the_multilabel_task_with_its_statistics(data_dir):
    described = catalog.describe(NAME, data_dir)  # from the builder's metadata, nothing generated
    assert (described.task, described.tasks, described.num_classes) == ("multilabel", ("multilabel",), 10)
    assert described.class_names == CLASS_NAMES
    info = catalog.ensure_prepared(NAME, data_dir)
    assert info.split_sizes == builder.SPLIT_SIZES and (info.mean, info.std) == (builder.MEAN, builder.STD)
    train = catalog.open_split(NAME, "train", data_dir)
    example = train[3]
    assert np.array_equal(example["label"], builder.generate_example("train", 3)[1])
    pixels = np.stack([train[i]["image"] for i in range(len(train))]).reshape(-1, 3) / 255.0
    assert np.allclose(pixels.mean(0), info.mean, atol=1e-4) and np.allclose(pixels.std(0), info.std, atol=1e-4)

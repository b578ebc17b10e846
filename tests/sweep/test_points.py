"""Sweep points: grids, paired lists, seed lists and the names of points."""

import pytest

from cnnjax.config import ConfigError
from cnnjax.sweep import point_name, product, seeds, zip_points
from cnnjax.sweep.points import MAX_NAME


def test_product_is_the_grid_with_the_last_axis_fastest():
    assert product(model__name=["a", "b"], optimizer__learning_rate=[0.1, 0.01]) == [
        {"model.name": "a", "optimizer.learning_rate": 0.1},
        {"model.name": "a", "optimizer.learning_rate": 0.01},
        {"model.name": "b", "optimizer.learning_rate": 0.1},
        {"model.name": "b", "optimizer.learning_rate": 0.01},
    ]


def test_zip_points_pairs_lists_of_one_length():
    assert zip_points(model__name=["a", "b"], train__num_steps=[1, 2]) == [
        {"model.name": "a", "train.num_steps": 1},
        {"model.name": "b", "train.num_steps": 2},
    ]
    with pytest.raises(ConfigError, match="one length"):
        zip_points(model__name=["a", "b"], train__num_steps=[1])


def test_seeds_repeats_each_point_per_seed():
    assert seeds([{"a.b": 1}], [3, 4]) == [{"a.b": 1, "seed": 3}, {"a.b": 1, "seed": 4}]


def test_point_names_are_short_safe_and_stable():
    assert point_name({}) == "base"
    assert point_name({"seed": 3}) == "base"
    assert point_name({"model.name": "cifar_plain20", "optimizer.learning_rate": 0.05}) == (
        "name-cifar_plain20_learning_rate-0.05"
    )
    assert point_name({"model.overrides.widths": (8, 16)}) == "widths-8x16"
    assert point_name({"model.name": "a", "dataset.name": "b/c d"}) == "model.name-a_dataset.name-b_c_d"
    long = {f"model.overrides.option{i}": "x" * 20 for i in range(6)}
    assert len(point_name(long)) == MAX_NAME
    assert point_name(long).endswith("_option2-xxx-e84e4543e0")  # the same on every run and Python version
    assert point_name({"name": "plain", "model.name": "x"}) == "plain"
    with pytest.raises(ConfigError, match="must match"):
        point_name({"name": "../up"})

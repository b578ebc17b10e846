"""`cnnjax visualize counts`: predicted against true counts over a whole split (cnnjax.inspect.counts), on the crowded
shapes (0-15 per image), whose generator the first test checks."""

import numpy as np
import pytest
from PIL import Image

from cnnjax.cli import main
from cnnjax.data import shapes_builder
from cnnjax.data.catalog import DENSITY, density_map, resolve_data_dir
from cnnjax.errors import InvalidInputError
from cnnjax.inspect.counts import SplitCounts, split_counts, write_count_scatter
from cnnjax.inspect.predict import dense_output
from tests.inspect.untrained_runs import untrained_run


def test_the_crowded_layout_draws_0_to_15_half_size_shapes_inside_its_margin():
    counts = []
    for index in range(60):
        _, _, shapes = shapes_builder.generate_example(
            "train", index, shapes_builder.CROWDED, shapes_builder.CROWDED_SEED
        )
        counts.append(len(shapes))
        centres = shapes_builder.shape_centres(shapes, 15)
        assert np.all(centres[len(shapes) :] == -1)
        circles = [s.params[2] for s in shapes if shapes_builder.CLASS_NAMES[s.label] == "circle"]
        assert all(3.5 <= radius <= 7.5 for radius in circles)
        drawn = centres[: len(shapes)]
        assert np.all((drawn >= 2.5) & (drawn <= 61.5))  # triangle centroids stay near their centre
    assert min(counts) <= 2 and max(counts) >= 13 and len(set(counts)) >= 12


@pytest.fixture(scope="module")
def crowded_run():
    """An untrained shrunk counting U-Net on the crowded shapes (split_counts is the point)."""
    return untrained_run("shapes_counting.py:crowded", ["model.overrides.width=4", "model.overrides.depth=2"])


def test_split_counts_are_the_map_sums_of_every_example(crowded_run, tmp_path):
    counts = split_counts(crowded_run, "test[:70]")  # two batches, the second partial
    source = crowded_run.dataset.open("test[:70]")
    assert len(counts.true) == len(counts.predicted) == len(source) == 70
    raw = shapes_builder.ShapesCrowded(data_dir=resolve_data_dir(None)).as_data_source("test[:70]")
    stored = np.array([raw[i]["count"] for i in range(len(raw))])
    maps = [density_map(raw[i]["centres"], 64, 64, DENSITY["shapes_crowded"].sigma) for i in range(len(raw))]
    np.testing.assert_allclose(counts.true, [m.sum() for m in maps], rtol=1e-5, atol=1e-5)  # the targets' sums
    assert np.all(np.round(counts.true) == stored)  # the object counts, less the tails cut by the border
    for index in (0, 69):
        pixels = np.asarray(source[index]["image"])
        density = np.asarray(crowded_run.task.density(dense_output(crowded_run, pixels)[None]))[0]
        assert counts.predicted[index] == pytest.approx(float(density.sum()), rel=1e-4)
    median = np.median(counts.true)
    assert counts.constant_mae == pytest.approx(np.mean(np.abs(counts.true - median)))
    assert counts.mae == pytest.approx(np.mean(np.abs(counts.predicted - counts.true)))
    path = write_count_scatter(str(tmp_path / "counts.png"), counts, "untrained")
    assert Image.open(path).size[0] > 0


def test_the_constant_reference_is_the_median_count():
    counts = SplitCounts(true=np.array([0.0, 1, 1, 5]), predicted=np.array([0.0, 1, 2, 4]))
    assert counts.constant_mae == pytest.approx((1 + 0 + 0 + 4) / 4)  # median 1
    assert counts.mae == pytest.approx(0.5)


def test_counts_of_a_run_that_does_not_count_is_refused_in_one_line(digits_workdir, tmp_path, capsys):
    assert main(["visualize", "counts", "--workdir", digits_workdir, "--out", str(tmp_path / "c.png")]) == 2
    assert "counts needs a counting run" in capsys.readouterr().err


def test_a_slice_without_examples_is_refused_in_one_line(crowded_run):
    with pytest.raises(InvalidInputError, match=r"split 'test\[:0\]' of shapes_crowded selects no examples"):
        split_counts(crowded_run, "test[:0]")

"""Counting through density maps: targets that sum to the counts, mass-preserving joint augmentation, the
Counting task's loss and metrics against NumPy, and the refusals of experiments/shapes_counting.py (its run:
tests/experiments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_runs import experiment, train

from cnnjax.data import catalog, shapes_builder
from cnnjax.data import density_augment as dens_aug
from cnnjax.parallel import AXIS
from cnnjax.tasks import Counting

SHRUNK = ("model.overrides.width=4", "model.overrides.depth=2", "train.batch_size=8", "train.eval_panels=2")


@pytest.fixture(scope="module")
def test_split(data_dir):
    return catalog.open_split("shapes_segmentation", "test", data_dir, "counting")


def test_density_map_sums_to_one_per_interior_centre_and_peaks_there():
    centres = np.array([[32.5, 20.5], [12.0, 50.3], [-1, -1]], np.float32)  # the last row is padding
    density = catalog.density_map(centres, 64, 64, sigma=3.0)
    assert density.dtype == np.float32 and density.shape == (64, 64)
    assert abs(density.sum() - 2.0) < 1e-3
    assert np.unravel_index(density.argmax(), density.shape) == (32, 20)
    single = catalog.density_map(centres[:1], 64, 64, sigma=3.0)
    np.testing.assert_allclose(single.sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(single[1:], single[1:][::-1], atol=1e-7)  # symmetric about row 32.5
    np.testing.assert_allclose(single[:, :41], single[:, :41][:, ::-1], atol=1e-7)  # and column 20.5
    corner = catalog.density_map(np.array([[0.0, 0.0]]), 64, 64, sigma=3.0)
    np.testing.assert_allclose(corner.sum(), 0.25, atol=1e-5)  # a quarter of the plane is in view


def test_stored_centres_and_counts_give_maps_that_sum_to_the_counts(test_split, data_dir):
    source = catalog._builder("shapes_segmentation", data_dir).as_data_source("test")
    for index in range(0, 300, 15):
        example = source[index]
        _, _, shapes = shapes_builder.generate_example("test", index)
        np.testing.assert_array_equal(example["centres"], shapes_builder.shape_centres(shapes))
        assert example["count"] == len(shapes) == (example["centres"][:, 0] >= 0).sum()
        density = test_split[index]["label"]
        valid = example["centres"][example["centres"][:, 0] >= 0]
        cut = (np.minimum(valid, 64 - valid) < 10).any()  # a Gaussian tail crosses the border
        assert abs(density.sum() - example["count"]) < (0.1 if cut else 1e-3)


def test_counting_dataset_info_has_one_output_and_other_datasets_refuse_counting(data_dir):
    info = catalog.ensure_prepared("shapes_segmentation", data_dir)
    assert info.task == "segmentation" and info.tasks == ("segmentation", "counting")
    counting = catalog.for_task(info, "counting")
    assert (counting.task, counting.num_classes, counting.class_names) == ("counting", 1, ("density",))
    with pytest.raises(ValueError, match="serves segmentation and counting, not classification"):
        catalog.for_task(info, "classification")


def gaussian_map(rng, size=64):
    centres = rng.uniform(14, size - 14, (3, 2))
    return catalog.density_map(centres, size, size, 3.0), rng.normal(size=(size, size, 3)).astype(np.float32)


def test_flip_and_crop_keep_the_map_exact_and_rescaling_keeps_its_mass():
    rng = np.random.default_rng(0)
    density, image = gaussian_map(rng)
    for seed in range(4):  # flips: mirrored or unchanged, always the same mass
        _, flipped = dens_aug.seg_aug.random_hflip(image, density, np.random.default_rng(seed))
        assert any(np.array_equal(flipped, d) for d in (density, density[:, ::-1]))
    cropped_image, cropped = dens_aug.random_crop(image, density, 80, rng)  # pads: every pixel is kept
    assert cropped.shape == (80, 80) and cropped_image.shape == (80, 80, 3)
    np.testing.assert_array_equal(cropped[:64, :64], density)
    assert not cropped[64:].any() and not cropped[:, 64:].any()  # padding: no density
    for size in (64, 40):
        crop_rng = np.random.default_rng(size)
        _, cropped = dens_aug.random_crop(image, density, size, crop_rng)
        replay = np.random.default_rng(size)
        top, left = int(replay.integers(0, 64 - size + 1)), int(replay.integers(0, 64 - size + 1))
        np.testing.assert_array_equal(cropped, density[top : top + size, left : left + size])
    for height, width in ((48, 48), (80, 80), (53, 71), (32, 32), (128, 100)):
        _, resized = dens_aug.resize(image, density, height, width)
        assert resized.shape == (height, width)
        np.testing.assert_allclose(resized.sum(), density.sum(), rtol=0.01)
    _, constant = dens_aug.resize(image, np.full((64, 64), 0.5, np.float32), 37, 91)
    np.testing.assert_allclose(constant.sum(), 0.5 * 64 * 64, rtol=1e-5)


def test_preprocess_keeps_the_count_in_evaluation_and_augments_in_training(test_split):
    preprocess = dens_aug.DensityPreprocess(64, shapes_builder.MEAN, shapes_builder.STD, (0.75, 1.25))
    example = test_split[3]
    evaluated = preprocess.apply(example)
    np.testing.assert_array_equal(evaluated["label"], example["label"])
    model_input = preprocess.on_device({key: value[None] for key, value in evaluated.items()})
    expected = (example["image"] / 255.0 - np.array(shapes_builder.MEAN)) / np.array(shapes_builder.STD)
    np.testing.assert_allclose(model_input["image"][0], expected, atol=1e-5)
    smaller = dens_aug.DensityPreprocess(48, shapes_builder.MEAN, shapes_builder.STD).apply(example)
    assert smaller["image"].shape == (48, 48, 3)
    np.testing.assert_allclose(smaller["label"].sum(), example["label"].sum(), rtol=0.01)
    for seed in range(3):
        trained = preprocess.apply(example, np.random.default_rng(seed))
        assert trained["image"].shape == (64, 64, 3) and trained["image"].dtype == np.uint8
        assert trained["label"].shape == (64, 64)
        assert trained["label"].dtype == np.float32 and trained["label"].sum() <= example["label"].sum() * 1.01


def test_counting_loss_and_metrics_match_numpy():
    rng = np.random.default_rng(0)
    task = Counting(density_scale=100.0)
    logits = rng.normal(0, 1, (4, 8, 6, 1)).astype(np.float32)
    target = rng.uniform(0, 0.02, (4, 8, 6)).astype(np.float32)
    mask = np.array([1, 1, 1, 0], np.float32)
    batch = {"label": target, "mask": mask}
    squared = (logits[..., 0] - 100 * target) ** 2
    errors = logits[..., 0].sum((1, 2)) / 100 - target.sum((1, 2))

    np.testing.assert_allclose(task.loss(jnp.asarray(logits), batch, {}), squared.mean(), rtol=1e-5)
    with_count = Counting(density_scale=100.0, count_weight=0.1).loss(jnp.asarray(logits), batch, {})
    np.testing.assert_allclose(with_count, squared.mean() + 0.1 * (errors**2).mean(), rtol=1e-5)
    metrics = jax.vmap(task.train_metrics, axis_name=AXIS)(logits[None], {"label": target[None]})
    np.testing.assert_allclose(metrics["count_mae"][0], np.abs(errors).mean(), rtol=1e-5)

    sums = {k: np.asarray(v, np.float64) for k, v in jax.jit(task.eval_sums)(logits, batch).items()}
    result = task.summarize(sums)
    real = errors[:3]
    np.testing.assert_allclose(result["count_mae"], np.abs(real).mean(), rtol=1e-5)
    np.testing.assert_allclose(result["count_rmse"], np.sqrt((real**2).mean()), rtol=1e-5)
    np.testing.assert_allclose(result["mean_count"], target[:3].sum((1, 2)).mean(), rtol=1e-5)
    np.testing.assert_allclose(result["loss"], squared[:3].mean(), rtol=1e-5)
    assert result["count"] == 3 and "count MAE" in task.describe(result)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("model.name='resnet18'",), "model 'resnet18' is a classification model (counting needs a dense output)"),
        (("dataset.name='digits'",), "dataset 'digits' serves classification"),
    ],
)
def test_counting_needs_a_dense_model_and_a_dataset_with_centres(tmp_path, capsys, overrides, message):
    assert train(tmp_path, experiment("shapes_counting.py"), *overrides) == 2
    assert message in capsys.readouterr().err

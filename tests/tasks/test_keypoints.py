"""Keypoints: the generated houses and their labels, sub-pixel decoding, PCK and pixel error against hand-computed
values, augmentation that moves keypoints with the pixels (and swaps left and right on a flip), and configs that
cannot train keypoints refused before anything compiles; an evaluation on 4 devices equals 1 (the
experiment's run: tests/experiments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from experiment_runs import experiment, train
from subprocesses import run_worker

from cnnjax.data import catalog
from cnnjax.data import keypoint_augment as kp_aug
from cnnjax.data import shapes_keypoints_builder as houses
from cnnjax.data.dataset import open_dataset
from cnnjax.tasks import Keypoints
from cnnjax.tasks.keypoint_metrics import decode, heatmaps
from tests.tasks.panel_checks import assert_panels_written_and_compiled_once

SIZE = houses.IMAGE_SIZE
TASKS = {"softmax": Keypoints(heatmap_loss="softmax"), "mse": Keypoints(heatmap_loss="mse")}


def perfect_logits(task: Keypoints, points: np.ndarray) -> np.ndarray:
    """(B, 64, 64, K): the maps a perfect model outputs for `points` (B, K, 2): the targets for 'mse', their
    logarithms -d^2 / (2 sigma^2) (log-probabilities up to a constant) for 'softmax'."""
    centres = np.arange(SIZE) + 0.5
    rows = (centres[None, :, None] - points[:, None, :, 0])[:, :, None, :]
    cols = (centres[None, :, None] - points[:, None, :, 1])[:, None, :, :]
    logs = -(rows**2 + cols**2) / (2 * task.sigma**2)
    return (logs if task.heatmap_loss == "softmax" else np.exp(logs)).astype(np.float32)


@pytest.fixture(scope="module")
def test_split(data_dir):
    return catalog.open_split("shapes_keypoints", "test", data_dir)


def test_stored_labels_are_the_generated_ones_and_visible_means_inside(test_split, data_dir):
    info = catalog.ensure_prepared("shapes_keypoints", data_dir)
    assert (info.task, info.tasks, info.num_classes) == ("keypoints", ("keypoints",), 6)
    assert info.class_names == houses.KEYPOINT_NAMES and info.flip_pairs == houses.FLIP_PAIRS
    for left, right in info.flip_pairs:  # a pair is the same point on either side
        assert info.class_names[left].replace("left_", "right_") == info.class_names[right]
    for index in range(0, 300, 20):
        example, generated = test_split[index], houses.generate_example("test", index)
        np.testing.assert_array_equal(example["image"], generated["image"])
        np.testing.assert_array_equal(example["label"], generated["keypoints"])
        inside = ((example["label"] >= 0) & (example["label"] < SIZE)).all(axis=1)
        np.testing.assert_array_equal(example["visible"], inside.astype(np.float32))
        corners = example["label"][:5]
        assert example["size"] == pytest.approx((corners.max(0) - corners.min(0)).max())
    train = catalog.open_split("shapes_keypoints", "train", data_dir)
    images = np.stack([train[i]["image"] for i in range(len(train))]) / 255.0
    np.testing.assert_allclose(images.mean((0, 1, 2)), houses.MEAN, atol=1e-4)  # the constants are measured
    np.testing.assert_allclose(images.std((0, 1, 2)), houses.STD, atol=1e-4)


def test_an_upright_house_has_its_left_keypoints_left_and_the_apex_on_top():
    points = houses.house_keypoints(cx=30, cy=40, width=20, wall=14, roof=8, angle=0.0)
    rows, cols = points[:, 0], points[:, 1]
    names = dict(zip(houses.KEYPOINT_NAMES, zip(rows, cols, strict=True), strict=True))
    assert names["apex"] == (40 - 7 - 8, 30) and names["centre"] == (40, 30)
    assert names["left_eave"] == (33, 20) and names["right_base"] == (47, 40)


def test_decoding_finds_a_gaussian_peak_between_pixels():
    """The targets decode to their keypoints; a Gaussian integrated over each pixel's square (another renderer,
    `catalog.density_map`) within 0.01 px, where the argmax pixel's centre is off by up to 0.5 px per axis."""
    points = np.array([[[20.3, 31.77], [5.5, 5.5], [40.9, 10.02], [33.14, 50.61]]], np.float32)
    np.testing.assert_allclose(jax.jit(decode)(heatmaps(jnp.asarray(points), SIZE, SIZE, 2.0)), points, atol=1e-3)
    logs = perfect_logits(TASKS["softmax"], points)  # softmax logits: the parabola through the values
    np.testing.assert_allclose(jax.jit(decode, static_argnums=1)(logs, True), points, atol=1e-3)
    integrated = np.stack([catalog.density_map(p[None], SIZE, SIZE, 2.0) for p in points[0]], axis=-1)[None]
    np.testing.assert_allclose(jax.jit(decode)(integrated), points, atol=0.01)
    argmax_centres = np.floor(points) + 0.5
    assert np.abs(argmax_centres - points).max() > 0.4  # what the refinement gains
    negative = -np.ones((1, 8, 8, 1), np.float32)  # no logarithm: the parabola through the values
    negative[0, 3, 5, 0], negative[0, 4, 5, 0] = -0.1, -0.4
    np.testing.assert_allclose(decode(jnp.asarray(negative))[0, 0], [3.5 + (0.9 - 0.3) / (2 * 1.2), 5.5], atol=1e-6)


POINTS = np.array(
    [
        [[10.0, 10.0], [20.0, 30.0], [40.0, 12.5]],  # example A, size 20: PCK@0.1 threshold 2 px
        [[30.0, 30.0], [50.0, 50.0], [12.0, 44.0]],  # example B, size 30: threshold 3 px
        [[30.0, 30.0], [30.0, 30.0], [30.0, 30.0]],  # padding (mask 0): counts nowhere
    ],
    np.float32,
)
SHIFTS = np.array([[0.0, 1.0], [3.0, 4.0], [1.5, 2.0]], np.float32)  # per keypoint: 1, 5 and 2.5 px away
BATCH = {
    "label": POINTS,
    "visible": np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32),  # B's keypoint 1 is not visible
    "size": np.array([20.0, 30.0, 10.0], np.float32),
    "mask": np.array([1, 1, 0], np.float32),
}


def summary_of(task: Keypoints, predicted_points: np.ndarray) -> dict:
    sums = jax.jit(task.eval_sums)(perfect_logits(task, predicted_points), BATCH)
    return task.summarize({k: np.asarray(v) for k, v in sums.items()})


@pytest.mark.parametrize("loss", sorted(TASKS))
def test_a_perfect_prediction_scores_pck_1_and_error_0(loss):
    result = summary_of(TASKS[loss], POINTS)
    assert result["pck"] == 1.0 and result["mean_error"] < 1e-3
    assert result["per_keypoint_pck"] == [1.0, 1.0, 1.0] and result["count"] == 2
    assert result["visible_keypoints"] == 5
    if loss == "mse":
        assert result["loss"] < 1e-10


@pytest.mark.parametrize("loss", sorted(TASKS))
def test_a_shifted_prediction_scores_as_hand_computed(loss):
    """Distances 1, 5, 2.5 px per keypoint. A (threshold 2 px): keypoint 0 only is a hit. B (threshold 3 px):
    keypoints 0 and 2 are hits, keypoint 1 is invisible. PCK = (1 + 2) / (3 + 2) = 0.6; mean error =
    (1 + 5 + 2.5 + 1 + 2.5) / 5 = 2.4 px; per keypoint PCK 2/2, 0/1, 1/2 and errors 1, 5, 2.5 px."""
    result = summary_of(TASKS[loss], POINTS + SHIFTS)
    assert result["pck"] == pytest.approx(0.6)
    assert result["mean_error"] == pytest.approx(2.4, abs=1e-3)
    assert result["per_keypoint_pck"] == pytest.approx([1.0, 0.0, 0.5])
    np.testing.assert_allclose(result["per_keypoint_error"], [1.0, 5.0, 2.5], atol=1e-3)
    assert "PCK@0.1 60.00% · mean error 2.40 px" in Keypoints().headline_line(result)


def test_the_losses_are_those_of_the_visible_keypoints_maps():
    """'mse': the pixel mean of (output - Gaussian of peak 1)^2; 'softmax': -sum t log softmax, t the Gaussian
    normalised to sum 1; both averaged over the channels, an invisible keypoint's counting 0."""
    logits = np.random.default_rng(0).normal(0, 0.1, (3, SIZE, SIZE, 3)).astype(np.float32)
    targets = perfect_logits(TASKS["mse"], POINTS)
    weights = BATCH["visible"][:, None, None, :]
    squared = ((logits - targets) ** 2 * weights).mean((1, 2, 3))
    flat = logits.reshape(3, -1, 3).astype(np.float64)
    normalised = targets.reshape(3, -1, 3) / targets.reshape(3, -1, 3).sum(1, keepdims=True)
    cross_entropy = (-(normalised * scipy.special.log_softmax(flat, axis=1)).sum(1) * BATCH["visible"]).mean(1)
    for loss, expected in (("mse", squared), ("softmax", cross_entropy)):
        task = TASKS[loss]
        np.testing.assert_allclose(jax.jit(task.loss)(logits, BATCH, {}), expected.mean(), rtol=1e-5)
        np.testing.assert_allclose(jax.jit(task.eval_sums)(logits, BATCH)["loss_sum"], expected[:2].sum(), rtol=1e-5)
        unlabelled = {**BATCH, "label": np.where(BATCH["visible"][..., None] > 0, BATCH["label"], np.nan)}
        loss, gradient = jax.jit(jax.value_and_grad(task.loss))(logits, unlabelled, {})  # NaN where not visible
        np.testing.assert_allclose(loss, expected.mean(), rtol=1e-5)
        assert np.all(np.isfinite(gradient))


def example_with_blobs(points: np.ndarray) -> dict:
    """A 64x64 image, dark but for a bright 5x5 blob centred on each keypoint (all visible)."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    for row, col in points.astype(int):
        image[row - 2 : row + 3, col - 2 : col + 3] = 255
    count = len(points)
    return {"image": image, "label": points + 0.5, "visible": np.ones(count, np.float32), "size": np.float32(20)}


def test_augmentation_moves_keypoints_with_the_pixels_and_hides_those_cropped_out():
    points = np.array([[8, 8], [8, 40], [30, 20], [55, 55], [50, 10], [32, 32]], np.float32)
    example = example_with_blobs(points)
    preprocess = kp_aug.KeypointPreprocess(SIZE, houses.MEAN, houses.STD, houses.FLIP_PAIRS, (0.6, 1.6))
    evaluated = preprocess.apply(example)
    np.testing.assert_array_equal(evaluated["label"], example["label"])
    assert evaluated["visible"].all() and evaluated["size"] == 20
    hidden = 0
    for seed in range(12):
        out = preprocess.apply(example, np.random.default_rng(seed))
        scale = float(out["size"]) / 20
        assert out["image"].shape == (SIZE, SIZE, 3) and 0.6 <= scale <= 1.6
        for (row, col), seen in zip(out["label"], out["visible"], strict=True):
            inside = 0 <= row < SIZE and 0 <= col < SIZE
            assert seen == inside
            if seen:  # the blob moved with the keypoint
                assert out["image"][int(row), int(col)].min() > 150, (seed, row, col)
        hidden += int((out["visible"] == 0).sum())
    assert hidden  # some crops cut keypoints out


def test_a_flip_mirrors_the_columns_and_swaps_left_and_right():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    keypoints = kp_aug.ExampleKeypoints(
        rng.uniform(0, SIZE, (6, 2)).astype(np.float32), np.array([1, 1, 0, 1, 1, 1], np.float32), np.float32(25)
    )
    flipped_image, flipped = kp_aug.hflip(image, keypoints, houses.FLIP_PAIRS)
    np.testing.assert_array_equal(flipped_image, image[:, ::-1])
    for i, j in ((0, 0), (1, 2), (2, 1), (3, 4), (4, 3), (5, 5)):  # apex and centre stay; eaves and bases swap
        np.testing.assert_allclose(flipped.points[i], [keypoints.points[j, 0], SIZE - keypoints.points[j, 1]])
        assert flipped.visible[i] == keypoints.visible[j]
    again_image, again = kp_aug.hflip(flipped_image, flipped, houses.FLIP_PAIRS)
    np.testing.assert_array_equal(again_image, image)
    np.testing.assert_allclose(again.points, keypoints.points, atol=1e-5)
    np.testing.assert_array_equal(again.visible, keypoints.visible)


def test_a_flipped_house_is_the_mirrored_house_with_left_and_right_swapped():
    """What makes the swap right: a house at angle a, mirrored, is the house at angle -a."""
    points = houses.house_keypoints(cx=30, cy=35, width=20, wall=14, roof=8, angle=0.4)
    mirror = houses.house_keypoints(cx=SIZE - 30, cy=35, width=20, wall=14, roof=8, angle=-0.4)
    keypoints = kp_aug.ExampleKeypoints(points.astype(np.float32), np.ones(6, np.float32), np.float32(1))
    _, flipped = kp_aug.hflip(np.zeros((SIZE, SIZE, 3), np.float32), keypoints, houses.FLIP_PAIRS)
    np.testing.assert_allclose(flipped.points, mirror, atol=1e-4)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("loss.heatmap_loss='l1'",), "config.loss.heatmap_loss is 'l1'; choose one of softmax, mse"),
        (("dataset.name='shapes_segmentation'",), "dataset 'shapes_segmentation' serves segmentation and counting"),
        (("model.name='resnet18'",), "model 'resnet18' is a classification model (keypoints needs a dense output)"),
        (("loss.heatmap_sigma=0.0",), "config.loss.heatmap_sigma must be positive"),
    ],
)
def test_keypoints_need_a_dense_model_and_a_keypoints_dataset(tmp_path, capsys, overrides, message):
    assert train(tmp_path / "run", experiment("shapes_keypoints.py"), *overrides) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_four_devices_evaluate_as_one(data_dir):
    assert "OK" in run_worker("keypoints_equivalence", num_devices=4)


def test_panels_are_written_and_compiled_once(data_dir, tmp_path):
    preprocess = kp_aug.KeypointPreprocess(SIZE, houses.MEAN, houses.STD, houses.FLIP_PAIRS)
    assert_panels_written_and_compiled_once(Keypoints(), open_dataset("shapes_keypoints"), preprocess, 6, tmp_path)

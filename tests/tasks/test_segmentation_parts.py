"""Segmentation building blocks: the shapes dataset, joint image/label augmentation, losses, confusion matrix."""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from matplotlib.path import Path

from cnnjax.data import segmentation_augment as seg_aug
from cnnjax.data import shapes_builder
from cnnjax.tasks import pixelwise as losses

SPLITS = ("train", "validation", "test")
K = len(shapes_builder.CLASS_NAMES)
# Compiled once per shape: op-by-op dispatch would compile every primitive.
cross_entropy = jax.jit(losses.pixel_cross_entropy)
dice = jax.jit(losses.dice_loss)
confusion = jax.jit(losses.confusion_matrix, static_argnums=2)


def combined_loss(logits, labels, *, class_weights=None, dice_weight=1.0, axis_name=None):
    """Cross-entropy + dice_weight x Dice, as the segmentation task composes them."""
    ce = losses.pixel_cross_entropy(logits, labels, class_weights=class_weights, axis_name=axis_name)
    return ce + dice_weight * losses.dice_loss(logits, labels, axis_name=axis_name)


ce_plus_dice = jax.jit(combined_loss)


def prepare(data_dir) -> tuple[tfds.core.DatasetBuilder, float]:
    """Prepares the dataset offline into `data_dir`; returns the builder and the CPU seconds it took."""
    tfds.disable_progress_bar()
    start = time.process_time()
    builder = shapes_builder.ShapesSegmentation(data_dir=str(data_dir))
    builder.download_and_prepare(file_format="array_record")
    return builder, time.process_time() - start


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="module")
def splits(prepared) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split -> (images (N, 64, 64, 3) uint8, labels (N, 64, 64) uint8), in stored order."""
    builder, _ = prepared
    result = {}
    for split in SPLITS:
        examples = builder.as_data_source(split).__getitems__(range(shapes_builder.SPLIT_SIZES[split]))
        result[split] = (np.stack([e["image"] for e in examples]), np.stack([e["label"] for e in examples]))
    return result


# --- dataset -------------------------------------------------------------------------------------------------


def test_prepares_offline_quickly_with_documented_splits_and_features(prepared, splits):
    builder, cpu_seconds = prepared
    assert cpu_seconds < 20
    assert {s: i.num_examples for s, i in builder.info.splits.items()} == shapes_builder.SPLIT_SIZES
    assert list(builder.info.metadata["class_names"]) == list(shapes_builder.CLASS_NAMES)
    for images, labels in splits.values():
        assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
        assert labels.dtype == np.uint8 and labels.shape[1:] == (64, 64)


def test_building_twice_gives_identical_files(prepared, tmp_path):
    first, _ = prepared
    second, _ = prepare(tmp_path)
    for split in SPLITS:
        (a,), (b,) = first.info.splits[split].filepaths, second.info.splits[split].filepaths
        assert a.read_bytes() == b.read_bytes()


def test_stored_examples_are_generated_by_split_and_index(splits):
    for split, (images, labels) in splits.items():
        for index in (0, 7, len(images) - 1):
            image, label, _ = shapes_builder.generate_example(split, index)
            np.testing.assert_array_equal(images[index], image)
            np.testing.assert_array_equal(labels[index], label)
    assert not np.array_equal(splits["train"][0][0], splits["test"][0][0])


def reference_owner(shapes, size=64) -> np.ndarray:
    """Index of the topmost shape containing each pixel centre (-1: none), rasterised independently."""
    y, x = np.mgrid[:size, :size] + 0.5
    points = np.stack([x.ravel(), y.ravel()], 1)
    owner = np.full((size, size), -1)
    for i, shape in enumerate(shapes):
        p = shape.params
        name = shapes_builder.CLASS_NAMES[shape.label]
        if name == "circle":
            inside = np.hypot(x - p[0], y - p[1]) <= p[2]
        else:
            if name == "rectangle":
                corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [p[2], p[3]]
                rotation = np.array([[np.cos(p[4]), -np.sin(p[4])], [np.sin(p[4]), np.cos(p[4])]])
                polygon = corners @ rotation.T + [p[0], p[1]]
            else:
                polygon = np.reshape(p, (3, 2))
            inside = Path(polygon).contains_points(points).reshape(size, size)
        owner[inside] = i
    return owner


def test_labels_match_the_shapes_drawn(splits):
    images, labels = splits["train"]
    for index in range(40):
        _, _, shapes = shapes_builder.generate_example("train", index)
        assert 2 <= len(shapes) <= 3
        owner = reference_owner(shapes)
        classes = np.array([0] + [s.label for s in shapes])
        np.testing.assert_array_equal(labels[index], classes[owner + 1])
        # Pixels inside a shape (3x3 neighbourhood owned by it) show its colour, up to shading and noise.
        padded = np.pad(owner, 1, constant_values=-2)
        interior = np.all(
            [padded[1 + dy : 65 + dy, 1 + dx : 65 + dx] == owner for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 0
        )
        interior &= owner >= 0
        colours = np.array([s.colour for s in shapes])[owner[interior]]
        assert np.abs(images[index][interior] / 255 - colours).max() < 0.31


def test_every_class_in_every_split(splits):
    for _, labels in splits.values():
        share = np.bincount(labels.ravel(), minlength=K) / labels.size
        assert len(share) == K and (share > 0.02).all()


def test_mean_std_constants_are_measured_on_train(splits):
    values = np.arange(256) / 255.0
    for channel in range(3):
        counts = np.bincount(splits["train"][0][..., channel].ravel(), minlength=256)  # exact, and fast
        mean = (counts * values).sum() / counts.sum()
        std = np.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
        assert shapes_builder.MEAN[channel] == pytest.approx(mean, abs=1e-4)
        assert shapes_builder.STD[channel] == pytest.approx(std, abs=1e-4)


# --- augmentation --------------------------------------------------------------------------------------------


def coordinate_pair(height=20, width=30):
    """An image whose channels hold each pixel's row and column, and a label map holding row * width + col."""
    rows, cols = np.mgrid[:height, :width]
    image = np.stack([rows, cols, np.ones_like(rows)], -1).astype(np.float32)
    return image, (rows * width + cols).astype(np.int32)


def test_crop_and_flip_move_image_and_label_together():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        image, label = coordinate_pair()
        image, label = seg_aug.random_crop(image, label, 24, rng, fill=-5.0, ignore_index=-1)
        image, label = seg_aug.random_hflip(image, label, rng)
        assert image.shape == (24, 24, 3) and label.shape == (24, 24)
        real = label >= 0
        np.testing.assert_array_equal(label[real], (image[..., 0] * 30 + image[..., 1])[real])
        assert (image[~real] == -5.0).all() and (label[~real] == -1).all()
        assert real.sum() == 20 * 24  # rows were padded (20 -> 24), columns cropped (30 -> 24)
    one = seg_aug.random_crop(*coordinate_pair(), 16, np.random.default_rng(3))
    two = seg_aug.random_crop(*coordinate_pair(), 16, np.random.default_rng(3))
    np.testing.assert_array_equal(one[1], two[1])


def test_nearest_resampling_of_labels_is_exact():
    label = np.random.default_rng(0).integers(0, 4, (16, 12)).astype(np.uint8)
    image = np.zeros((16, 12, 3), np.float32)
    _, up = seg_aug.resize(image, label, 32, 36)
    np.testing.assert_array_equal(up, np.repeat(np.repeat(label, 2, 0), 3, 1))
    _, down = seg_aug.resize(image, label, 8, 6)
    np.testing.assert_array_equal(down, label[1::2, 1::2])
    assert up.dtype == np.uint8


def test_image_resampling_is_bilinear_like_jax():
    image = np.random.default_rng(0).random((16, 12, 3), dtype=np.float32)
    label = np.zeros((16, 12), np.int32)
    for height, width in ((40, 30), (7, 5)):
        resized, _ = seg_aug.resize(image, label, height, width)
        expected = jax.image.resize(image, (height, width, 3), "linear", antialias=False)
        np.testing.assert_allclose(resized, expected, atol=1e-5)


def test_random_scale_keeps_labels_in_the_label_set_and_sizes_together():
    image, label = np.zeros((64, 64, 3), np.float32), shapes_builder.generate_example("train", 0)[1]
    for seed in range(10):
        rng = np.random.default_rng(seed)
        scaled_image, scaled_label = seg_aug.random_scale(image, label, rng, (0.5, 2.0))
        assert scaled_image.shape[:2] == scaled_label.shape and 32 <= scaled_label.shape[0] <= 128
        assert set(np.unique(scaled_label)) <= set(np.unique(label))


def test_resize_pad_evaluation_rule():
    image, label = coordinate_pair(16, 32)
    out_image, out_label = seg_aug.resize_pad(image, label, 64, ignore_index=-1)
    assert out_image.shape == (64, 64, 3)
    np.testing.assert_array_equal(out_label[:32], np.repeat(np.repeat(label, 2, 0), 2, 1))
    assert (out_label[32:] == -1).all() and (out_image[32:] == 0).all()
    square = coordinate_pair(64, 64)
    assert all(a is b for a, b in zip(seg_aug.resize_pad(*square, 64), square))  # the identity


def test_preprocess_train_and_eval():
    image, label, _ = shapes_builder.generate_example("train", 3)
    pre = seg_aug.SegmentationPreprocess(image_size=48, mean=shapes_builder.MEAN, std=shapes_builder.STD)
    for seed in range(10):
        out = pre.apply({"image": image, "label": label}, np.random.default_rng(seed))
        assert out["image"].shape == (48, 48, 3) and out["image"].dtype == np.uint8
        assert out["label"].shape == (48, 48) and out["label"].dtype == np.int32
        assert set(np.unique(out["label"])) <= set(range(K)) | {255}
    again = pre.apply({"image": image, "label": label}, np.random.default_rng(9))
    np.testing.assert_array_equal(again["image"], out["image"])
    full = seg_aug.SegmentationPreprocess(image_size=64, mean=shapes_builder.MEAN, std=shapes_builder.STD)
    out = full.apply({"image": image, "label": label})
    np.testing.assert_array_equal(out["label"], label)
    model_input = full.on_device({key: value[None] for key, value in out.items()})
    assert set(model_input) == {"image", "label"}
    expected = (image / 255.0 - np.array(shapes_builder.MEAN)) / np.array(shapes_builder.STD)
    np.testing.assert_allclose(model_input["image"][0], expected, atol=1e-5)


def test_pads_are_the_normalised_mean_on_the_device():
    image = np.random.default_rng(0).integers(0, 256, (20, 40, 3), dtype=np.uint8)
    label = np.zeros((20, 40), np.int32)
    pre = seg_aug.SegmentationPreprocess(image_size=48, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    evaluated = pre.apply({"image": image, "label": label})  # 24 x 48 resized, then 24 rows of padding
    np.testing.assert_array_equal(evaluated[seg_aug.VALID_BOX], [0, 24, 0, 48])
    flipped = [pre.apply({"image": image, "label": label}, np.random.default_rng(s)) for s in range(20)]
    batch = {key: np.stack([e[key] for e in [evaluated, *flipped]]) for key in evaluated}
    model_input = np.asarray(pre.on_device(batch)["image"])
    padding = batch["label"] == 255
    assert padding.any(axis=(1, 2)).all() and (model_input[padding] == 0).all()
    assert (np.abs(model_input[~padding]).sum(-1) > 0).mean() > 0.99


# --- losses --------------------------------------------------------------------------------------------------


def random_batch(seed=0, shape=(2, 5, 6), num_classes=4, ignored=0.3):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (*shape, num_classes)).astype(np.float32)
    labels = rng.integers(0, num_classes, shape)
    labels[rng.random(shape) < ignored] = 255
    return logits, labels


def numpy_cross_entropy(logits, labels, weights=None):
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = labels != 255
    weights = np.ones(logits.shape[-1]) if weights is None else np.asarray(weights)
    w = weights[labels[valid]]
    return -(w * log_probs[valid, labels[valid]]).sum() / w.sum()


def numpy_dice(logits, labels, smooth=1.0):
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    valid = labels != 255
    probs, onehot = probs[valid], np.eye(logits.shape[-1])[labels[valid]]
    dice = (2 * (probs * onehot).sum(0) + smooth) / (probs.sum(0) + onehot.sum(0) + smooth)
    return (1 - dice).mean()


def test_pixel_cross_entropy_matches_numpy_with_ignore_and_class_weights():
    logits, labels = random_batch()
    weights = [0.2, 1.0, 3.0, 0.5]
    np.testing.assert_allclose(cross_entropy(logits, labels), numpy_cross_entropy(logits, labels), 1e-5)
    got = cross_entropy(logits, labels, class_weights=weights)
    np.testing.assert_allclose(got, numpy_cross_entropy(logits, labels, weights), 1e-5)
    total, weight = jax.jit(losses.pixel_cross_entropy_sums)(logits, labels, class_weights=weights)
    np.testing.assert_allclose(weight, np.asarray(weights)[labels[labels != 255]].sum(), 1e-6)
    assert cross_entropy(logits.astype(jnp.bfloat16), labels).dtype == jnp.float32


def test_mask_excludes_examples_like_ignored_labels():
    logits, labels = random_batch(shape=(3, 4, 4))
    masked = labels.copy()
    masked[1] = 255
    mask = np.array([1.0, 0.0, 1.0])
    for fn in (cross_entropy, dice):
        np.testing.assert_allclose(fn(logits, labels, mask=mask), fn(logits, masked), 1e-6)


def test_all_ignored_batch_gives_zero_loss_and_zero_gradient():
    logits, labels = random_batch(ignored=1.0)
    value, grad = jax.jit(jax.value_and_grad(combined_loss))(logits, labels, class_weights=np.ones(4))
    assert value == 0.0 and np.all(grad == 0.0)  # both terms are >= 0, so both are 0


def test_dice_and_sum_match_numpy():
    logits, labels = random_batch(seed=1)
    np.testing.assert_allclose(dice(logits, labels), numpy_dice(logits, labels), 1e-5)
    np.testing.assert_allclose(dice(logits, labels, smooth=0.5), numpy_dice(logits, labels, 0.5), 1e-5)
    expected = numpy_cross_entropy(logits, labels) + 0.5 * numpy_dice(logits, labels)
    np.testing.assert_allclose(ce_plus_dice(logits, labels, dice_weight=0.5), expected, 1e-5)


# --- confusion matrix and metrics ----------------------------------------------------------------------------


def test_confusion_matrix_and_metrics_by_hand():
    labels = np.array([[0, 0, 1, 1], [2, 255, 0, 2]])
    predictions = np.array([[0, 1, 1, 1], [0, 2, 0, 2]])
    cm = confusion(predictions, labels, 4)
    expected = [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]  # class 3 absent from both
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == jnp.int32
    metrics = losses.segmentation_metrics(cm)
    np.testing.assert_allclose(metrics["per_class_iou"], [2 / 4, 2 / 3, 1 / 2, np.nan])
    assert metrics["miou"] == pytest.approx((2 / 4 + 2 / 3 + 1 / 2) / 3)
    assert metrics["pixel_accuracy"] == pytest.approx(5 / 7)
    assert metrics["mean_class_accuracy"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    # A class predicted but never true has IoU 0 (counted in the mean).
    assert losses.segmentation_metrics([[1, 1], [0, 0]])["per_class_iou"].tolist() == [0.5, 0.0]
    masked = confusion(predictions, labels, 4, mask=np.array([1, 0]))
    np.testing.assert_array_equal(masked, [[1, 1, 0, 0], [0, 2, 0, 0], [0] * 4, [0] * 4])
    with pytest.raises(ValueError, match="no pixels"):
        losses.segmentation_metrics(np.zeros((3, 3)))


def test_accumulating_batches_equals_one_big_batch():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (12, 16, 16))
    labels[rng.random(labels.shape) < 0.1] = 255
    predictions = rng.integers(0, 6, labels.shape)
    total = np.zeros((6, 6), np.int64)
    for start in range(0, 12, 5):  # uneven batches: 5, 5, 2
        total += np.asarray(confusion(predictions[start : start + 5], labels[start : start + 5], 6))
    whole = confusion(predictions, labels, 6)
    np.testing.assert_array_equal(total, whole)
    assert losses.segmentation_metrics(total)["miou"] == losses.segmentation_metrics(whole)["miou"]
    assert total.sum() == (labels != 255).sum()


# --- several devices -----------------------------------------------------------------------------------------


def test_four_devices_equal_one_device():
    from subprocesses import run

    done = run([sys.executable, __file__, "four-devices"], num_devices=4, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-6000:]
    assert "4 devices ok" in done.stdout


def check_four_devices():
    """Losses (value, gradient) and confusion matrices of 4 devices equal those of one on the global batch."""
    from jax import lax

    from cnnjax.parallel import AXIS, REPLICATED, SHARDED, DataParallel

    assert jax.device_count() == 4
    rng = np.random.default_rng(0)
    features = rng.normal(size=(8, 6, 6, 3)).astype(np.float32)
    labels = rng.integers(0, 4, (8, 6, 6)).astype(np.int32)
    labels[0:2, :, 1:] = 255  # device 0 keeps few valid pixels
    labels[4:6] = 255  # device 2 keeps none
    params = {"w": rng.normal(size=(3, 4)).astype(np.float32), "b": np.zeros(4, np.float32)}
    weights = np.array([0.5, 1.0, 2.0, 1.5], np.float32)

    def loss_fn(p, x, y, axis_name):
        logits = x @ p["w"] + p["b"]
        return combined_loss(logits, y, class_weights=weights, axis_name=axis_name)

    def predict(p, x):
        return jnp.argmax(x @ p["w"] + p["b"], -1)

    expected_loss, expected_grads = jax.jit(jax.value_and_grad(loss_fn), static_argnums=3)(
        params, features, labels, None
    )
    expected_cm = confusion(predict(params, features), labels, 4)

    def per_device(p, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y, AXIS)
        cm = lax.psum(losses.confusion_matrix(predict(p, x), y, 4), AXIS)
        naive = lax.pmean(combined_loss(x @ p["w"] + p["b"], y, class_weights=weights), AXIS)
        return lax.pmean(loss, AXIS), lax.pmean(grads, AXIS), cm, naive

    parallel = DataParallel()
    step = parallel.map(per_device, (REPLICATED, SHARDED, SHARDED), REPLICATED)
    batch = parallel.shard_batch({"x": features, "y": labels})
    loss, grads, cm, naive = parallel.to_host(step(parallel.put(params), batch["x"], batch["y"]))
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), grads, expected_grads)
    np.testing.assert_array_equal(cm, expected_cm)
    assert abs(naive - expected_loss) > 0.05  # averaging per-device losses would be wrong here
    print("4 devices ok")


if __name__ == "__main__" and sys.argv[1:] == ["four-devices"]:
    check_four_devices()

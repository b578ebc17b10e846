"""The papers' recipes: configs hold the published numbers and the engine features they need work (each recipe
trains, shrunk, in test_experiments.py)."""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from experiment_runs import experiment
from tfds_fakes import fake_prepared

from cnnjax.config import base_config, check_layout, load_config, validate_config
from cnnjax.data import augment, image_io
from cnnjax.data.catalog import mean_image, open_split
from cnnjax.data.preprocess import Preprocess
from cnnjax.models import list_models
from cnnjax.train.optimizer import make_optimizer, make_schedule

VARIANTS = [
    *[("cifar10_resnet.py", f"{kind}{depth}") for kind in ("resnet", "plain") for depth in (20, 32, 44, 56, 110)],
    *[("cifar10_resnet_modern.py", f"resnet{depth}") for depth in (20, 110)],
    *[("cifar10_preact_resnet.py", arg) for arg in ("110", "164", "1001")],
    ("cifar10_wrn.py", "wrn28_10"),
    ("cifar10_wrn.py", "wrn28_10_dropout"),
    *[("imagenet_resnet50.py", a) for a in ("", "label_smoothing", "bs1024,warmup", "bs8192,warmup,label_smoothing")],
    *[("imagenet_mobilenet_v2.py", w) for w in ("0.35", "0.5", "0.75", "1.0", "1.3", "1.4", "1.4,bs96")],
]
EXPERIMENTS = sorted(p.name for p in Path(experiment("digits_lenet5.py")).parent.glob("*.py"))
DEVICE_COUNTS = (1, 8, 16, 64)


def load(name: str, arg: str = ""):
    return load_config(f"{experiment(name)}:{arg}" if arg else experiment(name))


def rates(config, steps):
    schedule = make_schedule(config)
    return [float(schedule(s)) for s in steps]


@pytest.mark.parametrize("name,arg", VARIANTS)
def test_every_variant_loads_locked_and_valid(name, arg):
    config = load(name, arg)
    validate_config(config)
    with pytest.raises(AttributeError):
        config.new_key = 1


@pytest.mark.parametrize(
    "name,arg,message",
    [
        ("cifar10_preact_resnet.py", "56", "use one of (110, 164, 1001)"),
        ("cifar10_wrn.py", "wrn40_4", "use one of wrn28_10, wrn28_10_dropout"),
        ("imagenet_resnet50.py", "warmup", "needs bsN with N > 256"),
        ("imagenet_resnet50.py", "bs512,cosine", "unknown option 'cosine'"),
        ("imagenet_mobilenet_v2.py", "2.0", "width multiplier"),
        ("imagenet_mobilenet_v2.py", "1.0,bs128", "only ',bs96' may follow the width"),
    ],
)
def test_bad_args_say_what_is_allowed(name, arg, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(name, arg)


def test_recipe_model_names_are_registered():
    names = {load(name, arg).model.name for name, arg in VARIANTS}
    assert names - set(list_models()) == set()


# ---- The published numbers, in steps. ----


def assert_fields(config, expected: dict):
    actual = {key: functools.reduce(getattr, key.split("."), config) for key in expected}
    assert actual == expected


CIFAR_SGD = {
    "optimizer.name": "sgd",
    "optimizer.learning_rate": 0.1,
    "optimizer.momentum": 0.9,
    "train.batch_size": 128,
    "dataset.pad_crop": 4,
    "dataset.hflip": True,
}


def test_cifar10_resnet_recipe_he_2015():
    c = load("cifar10_resnet.py", "resnet56")
    assert_fields(
        c,
        {
            **CIFAR_SGD,
            "optimizer.nesterov": False,
            "optimizer.weight_decay": 1e-4,
            "train.num_steps": 64_000,
            "schedule.boundaries": (32_000, 48_000),
            "schedule.warmup_steps": 0,
            "dataset.normalization": "per_pixel_mean",
            "dataset.pad_mode": "zeros",
        },
    )
    assert rates(c, [0, 31_999, 32_000, 47_999, 48_000, 63_999]) == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3])


@pytest.mark.parametrize("arg", ["resnet110", "plain110"])
def test_cifar10_resnet110_warms_up_at_0_01_for_400_steps(arg):
    expected = [0.01, 0.01, 0.1, 0.1, 0.01, 1e-3]
    assert rates(load("cifar10_resnet.py", arg), [0, 399, 400, 31_999, 32_000, 48_000]) == pytest.approx(expected)


@pytest.mark.parametrize("arg", ["110", "164", "1001"])
def test_cifar10_preact_resnet_recipe_he_2016(arg):
    c = load("cifar10_preact_resnet.py", arg)
    assert_fields(
        c,
        {
            **CIFAR_SGD,
            "model.name": f"cifar_preact_resnet{arg}",
            "optimizer.nesterov": False,
            "optimizer.weight_decay": 1e-4,
            "train.num_steps": 64_000,
            "dataset.normalization": "per_channel",
        },
    )
    assert rates(c, [0, 399, 400, 31_999, 32_000, 48_000]) == pytest.approx([0.01, 0.01, 0.1, 0.1, 0.01, 1e-3])


def test_cifar10_wrn_recipe_zagoruyko_2016():
    c = load("cifar10_wrn.py", "wrn28_10")
    epoch = 50_000 / 128
    assert_fields(
        c,
        {
            **CIFAR_SGD,
            "model.name": "wrn28_10",
            "model.overrides.dropout_rate": 0.0,
            "optimizer.nesterov": True,
            "optimizer.weight_decay": 5e-4,
            "train.num_steps": round(200 * epoch),
            "schedule.boundaries": tuple(round(e * epoch) for e in (60, 120, 160)),
            "schedule.decay_factor": 0.2,
            "dataset.pad_mode": "reflect",
            "dataset.normalization": "per_channel",
        },
    )
    assert (c.train.num_steps, c.schedule.boundaries) == (78_125, (23_438, 46_875, 62_500))
    assert rates(c, [0, 23_437, 23_438, 46_875, 62_500]) == pytest.approx([0.1, 0.1, 0.02, 0.004, 0.0008])
    assert load("cifar10_wrn.py", "wrn28_10_dropout").model.overrides.dropout_rate == 0.3


IMAGENET_DATA = {
    "model.dtype": "auto",
    "train.eval_batch_size": 256,
    "dataset.name": "imagenet2012",
    "dataset.image_size": 224,
    "dataset.train_crop": "random_resized",
    "dataset.hflip": True,
    "dataset.eval_resize": 256,
    "dataset.eval_split": "validation",
    "dataset.normalization": "per_channel",
}


def test_imagenet_resnet50_recipe_90_epochs():
    c = load("imagenet_resnet50.py")
    epoch = 1_281_167 / 256
    assert_fields(
        c,
        {
            **IMAGENET_DATA,
            "model.name": "resnet50",
            "optimizer.name": "sgd",
            "optimizer.learning_rate": 0.1,
            "optimizer.momentum": 0.9,
            "optimizer.weight_decay": 1e-4,
            "train.batch_size": 256,
            "parallel.bn_group_size": 32,
            "train.num_steps": round(90 * epoch),
            "schedule.boundaries": tuple(round(e * epoch) for e in (30, 60, 80)),
            "schedule.warmup_steps": 0,
            "loss.label_smoothing": 0.0,
        },
    )
    assert c.train.num_steps == 450_410
    assert rates(c, [0, 150_136, 150_137, 300_274, 400_365]) == pytest.approx([0.1, 0.1, 0.01, 1e-3, 1e-4])


def test_imagenet_resnet50_large_batch_variant_goyal_2017():
    c = load("imagenet_resnet50.py", "bs1024,warmup,label_smoothing")
    epoch = 1_281_167 / 1024
    warmup = round(5 * epoch)
    assert_fields(
        c,
        {
            "train.batch_size": 1024,
            "optimizer.learning_rate": 0.4,
            "loss.label_smoothing": 0.1,
            "schedule.warmup_steps": warmup,
            "schedule.warmup_mode": "linear",
            "schedule.boundaries": tuple(round(e * epoch) for e in (30, 60, 80)),
        },
    )
    expected = [0.1, 0.1 + 0.3 * (warmup // 2) / warmup, 0.4, 0.04]
    assert rates(c, [0, warmup // 2, warmup, c.schedule.boundaries[0]]) == pytest.approx(expected)


@pytest.mark.parametrize(("arg", "batch", "lr"), [("0.5", 192, 0.09), ("0.5,bs96", 96, 0.045)])
def test_imagenet_mobilenet_v2_recipe_sandler_2018(arg, batch, lr):
    c = load("imagenet_mobilenet_v2.py", arg)
    epoch = 1_281_167 // batch
    assert_fields(
        c,
        {
            **IMAGENET_DATA,
            "model.name": "mobilenet_v2",
            "model.overrides.width_multiplier": 0.5,
            "optimizer.name": "rmsprop",
            "optimizer.learning_rate": lr,
            "optimizer.decay": 0.9,
            "optimizer.momentum": 0.9,
            "optimizer.eps": 1.0,
            "optimizer.initial_scale": 1.0,
            "optimizer.weight_decay": 4e-5,
            "train.batch_size": batch,
            "parallel.bn_group_size": 96,
            "schedule.name": "exponential",
            "schedule.decay_factor": 0.98,
            "schedule.decay_every_steps": epoch,
        },
    )
    assert rates(c, [0, epoch - 1, epoch, 2 * epoch]) == pytest.approx([lr, lr, lr * 0.98, lr * 0.98**2])


@pytest.mark.parametrize("name,arg", [(name, "") for name in EXPERIMENTS] + VARIANTS)
def test_every_experiment_fits_every_device_count_its_batch_allows(name, arg):
    """Without compiling: on every count that divides the train batch, the eval batch splits and the
    BatchNorm groups tile; every experiment runs on 1 to 16 devices, the CIFAR and ImageNet recipes
    (but MobileNetV2's paper batch of 96) on 64 too."""
    config = load(name, arg)
    fits = [devices for devices in DEVICE_COUNTS if config.train.batch_size % devices == 0]
    for devices in fits:
        check_layout(config, devices)
    assert fits[:3] == [1, 8, 16], fits
    if name.startswith(("cifar10_", "imagenet_")) and "bs96" not in arg:
        assert fits == list(DEVICE_COUNTS), fits


def test_layout_errors_name_the_key_and_what_fits():
    config = load("imagenet_mobilenet_v2.py", "1.0,bs96")
    with pytest.raises(ValueError, match=r"config.train.batch_size=96 does not split over 64 devices"):
        check_layout(config, 64)
    config = load("imagenet_resnet50.py", "bs96")
    with pytest.raises(ValueError, match=r"bn_group_size=32: BatchNorm groups of 32 images do not tile a per-device"):
        check_layout(config, 8)  # 12 images per device
    with pytest.raises(ValueError, match=r"config.train.eval_batch_size=256 does not split over 512 devices"):
        check_layout(load("imagenet_resnet50.py", "bs1024"), 512)
    with pytest.raises(ValueError, match=r"8 devices cannot be split evenly over 3 processes"):
        check_layout(config, 8, num_processes=3)


# ---- Schedules, RMSProp and validation. ----


def schedule_config(**schedule):
    c = base_config()
    c.optimizer.learning_rate = 0.1
    for key, value in schedule.items():
        c.schedule[key] = value
    return c


def test_constant_warmup_holds_the_reduced_rate_then_jumps():
    c = schedule_config(
        name="piecewise", boundaries=(1000, 2000), warmup_mode="constant", warmup_steps=400, warmup_factor=0.1
    )
    assert rates(c, [0, 200, 399, 400, 999, 1000, 2000]) == pytest.approx([0.01, 0.01, 0.01, 0.1, 0.1, 0.01, 1e-3])


def test_linear_warmup_starts_at_the_warmup_factor():
    c = schedule_config(warmup_steps=10, warmup_factor=0.5)
    assert rates(c, [0, 5, 10, 20]) == pytest.approx([0.05, 0.075, 0.1, 0.1])


def test_exponential_schedule_is_a_staircase_after_warmup():
    c = schedule_config(name="exponential", decay_factor=0.5, decay_every_steps=10, warmup_steps=4, warmup_factor=0.0)
    assert rates(c, [0, 2, 4, 13, 14, 23, 24]) == pytest.approx([0.0, 0.05, 0.1, 0.1, 0.05, 0.05, 0.025])


def test_rmsprop_is_tensorflows_with_l2_on_kernels():
    c = base_config()
    c.optimizer.name, c.optimizer.learning_rate, c.optimizer.weight_decay = "rmsprop", 0.5, 0.1
    c.optimizer.decay, c.optimizer.momentum, c.optimizer.eps, c.optimizer.initial_scale = 0.8, 0.7, 0.3, 1.0
    tx, _ = make_optimizer(c)
    params = {"kernel": jnp.full((2, 2), 2.0), "bias": jnp.full((2,), 2.0)}
    state = tx.init(params)
    ms, mom = {"kernel": 1.0, "bias": 1.0}, {"kernel": 0.0, "bias": 0.0}
    for grad in (1.0, -3.0):
        updates, state = tx.update(jax.tree.map(lambda p, g=grad: jnp.full_like(p, g), params), state, params)
        for name, p in params.items():
            g = grad + (0.1 * 2.0 if name == "kernel" else 0.0)
            ms[name] = 0.8 * ms[name] + 0.2 * g**2
            mom[name] = 0.7 * mom[name] + 0.5 * g / np.sqrt(ms[name] + 0.3)
            np.testing.assert_allclose(updates[name], np.full(p.shape, -mom[name]), rtol=1e-6)


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("optimizer.name", "rmsprob", "choose one of sgd, adamw, rmsprop"),
        ("schedule.name", "exp", "choose one of constant, piecewise, cosine, exponential"),
        ("schedule.warmup_mode", "step", "choose one of linear, constant"),
        ("dataset.normalization", "per_pixel", "choose one of per_channel, per_pixel_mean"),
        ("dataset.train_crop", "inception", "choose one of pad_crop, random_resized"),
        ("dataset.pad_mode", "edge", "choose one of zeros, reflect"),
    ],
)
def test_unknown_names_are_refused_with_the_choices(key, value, message):
    c = base_config()
    section, leaf = key.split(".")
    c[section][leaf] = value
    with pytest.raises(ValueError, match=f"config.{key} is '{value}'; {message}"):
        validate_config(c)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"schedule.name": "exponential"}, "decay_every_steps must be at least 1"),
        ({"dataset.eval_resize": 20}, "eval_resize \\(20\\) must be 0 or at least image_size \\(32\\)"),
        ({"dataset.normalization": "per_pixel_mean", "dataset.train_crop": "random_resized"}, "per_pixel_mean"),
    ],
)
def test_inconsistent_settings_are_refused(settings, message):
    c = base_config()
    for key, value in settings.items():
        section, leaf = key.split(".")
        c[section][leaf] = value
    with pytest.raises(ValueError, match=message):
        validate_config(c)


# ---- Preprocessing: per-pixel mean, Inception crop, resize + centre crop. ----


def test_per_pixel_mean_is_the_train_mean_image_cached_on_disk(tmp_path):
    data_dir = str(tmp_path)
    fake_prepared("cifar10", data_dir, size=6)
    with tfds.testing.mock_data(num_examples=6, data_dir=data_dir):
        source = open_split("cifar10", "train", data_dir)
        expected = np.mean([np.asarray(source[i]["image"], np.float64) / 255 for i in range(6)], axis=0)
        mean = mean_image("cifar10", "train", data_dir, 32)
        cached = list(tmp_path.rglob("cnnjax_mean_image_train_32.npy"))
        assert mean.shape == (32, 32, 3) and mean.dtype == np.float32 and len(cached) == 1
        np.testing.assert_allclose(mean, expected, atol=1e-6)
        np.save(cached[0], mean + 1)  # the cache is read, not recomputed
        np.testing.assert_array_equal(mean_image("cifar10", "train", data_dir, 32), mean + 1)


def test_per_pixel_mean_is_subtracted_before_padding():
    rng = np.random.default_rng(0)
    mean = rng.random((6, 6, 3), dtype=np.float32)
    image = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    preprocess = Preprocess(image_size=6, mean=mean, std=(1.0,) * 3, pad_crop=2)

    def model_input(rng=None):
        return preprocess.on_device(batch_of(preprocess.apply({"image": image, "label": 0}, rng)))["image"][0]

    np.testing.assert_allclose(model_input(), image / 255 - mean, atol=1e-6)
    shifted = [model_input(np.random.default_rng(s)) for s in range(30)]
    padded = np.pad(image / 255 - mean, ((2, 2), (2, 2), (0, 0)))  # the pads hold the mean: zero
    windows = [padded[t : t + 6, left : left + 6] for t in range(5) for left in range(5)]
    assert all(any(np.allclose(s, w, atol=1e-6) for w in windows) for s in shifted)


def batch_of(example: dict) -> dict:
    return {key: np.asarray(value)[None] for key, value in example.items()}


def test_random_resized_window_bounds():
    rng = np.random.default_rng(0)
    for height, width in [(100, 150), (37, 20), (224, 224)]:
        for _ in range(200):
            top, left, h, w = augment.random_resized_window(height, width, rng)
            assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
            assert 0.08 * height * width * 0.75 <= h * w <= height * width
            assert 3 / 4 * 0.85 <= w / h <= 4 / 3 / 0.85  # rounding of small windows
    assert augment.random_resized_window(10, 200, rng) == (0, 93, 10, 13)  # no try fits: centred, ratio 4/3


def test_random_resized_crop_is_the_window_resized_with_antialiasing():
    image = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    crop = image_io.random_resized_crop(image_io.open_image(image), 24, 3, np.random.default_rng(5))
    top, left, h, w = augment.random_resized_window(50, 70, np.random.default_rng(5))
    window = jnp.asarray(image[top : top + h, left : left + w], jnp.float32)
    expected = jax.image.resize(window, (24, 24, 3), "linear", antialias=True)
    assert crop.shape == (24, 24, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(crop, expected, atol=1.0)  # uint8 rounding and PIL's fixed-point weights
    again = image_io.random_resized_crop(image_io.open_image(image), 24, 3, np.random.default_rng(5))
    np.testing.assert_array_equal(crop, again)


@pytest.mark.parametrize("shape", [(40, 60), (75, 36), (32, 32)])
def test_resize_center_crop_matches_jax_antialiased_resize_then_crop(shape):
    image = np.random.default_rng(2).integers(0, 256, (*shape, 3), dtype=np.uint8)
    height, width = shape
    new_h, new_w = (36, int(36 * width / height)) if height <= width else (int(36 * height / width), 36)
    full = np.asarray(jax.image.resize(jnp.asarray(image, jnp.float32), (new_h, new_w, 3), "linear", antialias=True))
    top, left = round((new_h - 32) / 2), round((new_w - 32) / 2)
    out = image_io.resize_center_crop(image_io.open_image(image), 36, 32, 3)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out, full[top : top + 32, left : left + 32], atol=1.0)


def test_preprocess_takes_the_inception_crop_in_training_and_the_centre_in_evaluation():
    image = np.random.default_rng(3).integers(0, 256, (30, 45, 3), dtype=np.uint8)
    preprocess = Preprocess(image_size=16, mean=(0.0,) * 3, std=(1.0,) * 3, train_crop="random_resized", eval_resize=20)
    example = {"image": image, "label": 1}
    expected = image_io.resize_center_crop(image_io.open_image(image), 20, 16, 3)
    np.testing.assert_array_equal(preprocess.apply(example)["image"], expected)
    trained = preprocess.apply(example, np.random.default_rng(4))["image"]
    expected = image_io.random_resized_crop(image_io.open_image(image), 16, 3, np.random.default_rng(4))
    np.testing.assert_array_equal(trained, expected)

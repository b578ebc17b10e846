"""`cnnjax predict` and `convolutionalize`: trained runs on images of any size (the package's shared runs, conftest.py),
classifiers as heat-map models."""

import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from cnnjax.cli import main
from cnnjax.data.preprocess import Preprocess
from cnnjax.errors import InvalidInputError
from cnnjax.inspect.convolutionalize import convolutionalize
from cnnjax.inspect.predict import dense_output
from cnnjax.inspect.predict_command import counting, keypoints, multilabel
from cnnjax.inspect.trained_run import TrainedRun
from cnnjax.models import create_model
from cnnjax.reporting.summary import write_summary_json
from cnnjax.tasks import Multilabel
from tests.inspect.untrained_runs import untrained_run

KEY = jax.random.key(0)


def image_file(path, height, width, channels, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(path)
    return str(path)


def test_lenet5_convolutionalized_equals_the_classifier_at_its_size_and_on_every_window():
    """LeNet-5's map has jump 4 and valid convs: score (i, j) of a 48x56 image is the classifier's logits on the
    32x32 crop at pixel (4i, 4j), and the map is (48 - 32) / 4 + 1 by (56 - 32) / 4 + 1."""
    model = create_model("lenet5", num_classes=10, in_channels=1)
    variables = model.init(KEY, jnp.zeros((1, 32, 32, 1)))
    scores = jax.jit(convolutionalize(model, variables, (32, 32, 1)))
    small = jax.random.normal(KEY, (2, 32, 32, 1))
    np.testing.assert_allclose(scores(small)[:, 0, 0], model.apply(variables, small), rtol=1e-5, atol=1e-6)
    large = jax.random.normal(jax.random.key(1), (2, 48, 56, 1))
    maps = scores(large)
    assert maps.shape == (2, 5, 7, 10)
    for i, j in ((0, 0), (2, 3), (4, 6)):
        crop = large[:, 4 * i : 4 * i + 32, 4 * j : 4 * j + 32]
        np.testing.assert_allclose(maps[:, i, j], model.apply(variables, crop), rtol=1e-4, atol=1e-5)


def test_vgg_convolutionalized_grows_with_the_image():
    """A VGG trained at 64x64 (its 2x2 map pooled to 1x1 by the head): a 128x128 image gives a 3x3 map; the
    model's own forward at 64 is the 1x1 map (the head's adaptive pool is part of the head)."""
    model = create_model(
        "vgg11", num_classes=3, cfg=(4, "M", 8, "M", 8, "M", 8, "M", 8, "M"), hidden_features=8, pool_size=1
    )
    variables = model.init(KEY, jnp.zeros((1, 64, 64, 3)))
    scores = convolutionalize(model, variables, (64, 64, 3))
    images = jax.random.normal(KEY, (1, 64, 64, 3))
    np.testing.assert_allclose(scores(images)[:, 0, 0], model.apply(variables, images), rtol=1e-5, atol=1e-6)
    assert jax.eval_shape(scores, jnp.zeros((1, 128, 128, 3))).shape == (1, 3, 3, 3)


def test_a_globally_pooled_head_or_a_small_image_is_refused():
    model = create_model("cifar_resnet20", num_classes=10)
    variables = jax.eval_shape(model.init, KEY, jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(InvalidInputError, match="CifarResNet has no dense head"):
        convolutionalize(model, variables, (32, 32, 3))
    lenet = create_model("lenet5", num_classes=10, in_channels=1)
    scores = convolutionalize(lenet, lenet.init(KEY, jnp.zeros((1, 32, 32, 1))), (32, 32, 1))
    with pytest.raises(InvalidInputError, match="smaller than the training size 32x32"):
        scores(jnp.zeros((1, 31, 40, 1)))


def test_predict_classifies_images_of_any_size_and_maps_classes(digits_workdir, tmp_path, capsys):
    sizes = [(32, 32), (21, 17), (97, 64)]
    paths = [image_file(tmp_path / f"digit{h}x{w}.png", h, w, 1, seed=h) for h, w in sizes]
    out = tmp_path / "out"
    assert main(["predict", "--workdir", str(digits_workdir), *paths, "--out", str(out), "--top_k", "3"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    saved = json.loads((out / "predictions.json").read_text())
    assert printed == saved and [r["size"] for r in saved] == [list(s) for s in sizes]
    for record in saved:
        probabilities = [entry["probability"] for entry in record["top_k"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1 + 1e-6
        assert {entry["name"] for entry in record["top_k"]} <= {str(d) for d in range(10)}
    assert main(["predict", "--workdir", str(digits_workdir), *paths, "--out", str(out), "--class_maps"]) == 2
    assert "--class_maps needs images of at least the training size 32x32; " in capsys.readouterr().err
    # LeNet's S4 map has jump 4: a 97x64 image gives (97 - 32) // 4 + 1 by (64 - 32) // 4 + 1 windows
    del paths[1]
    assert main(["predict", "--workdir", str(digits_workdir), *paths, "--out", str(out), "--class_maps"]) == 0
    saved = json.loads((out / "predictions.json").read_text())
    assert [r["class_maps_size"] for r in saved] == [[1, 1], [17, 9]]
    assert Image.open(out / "digit97x64_class_maps.png").size[0] > 0


def test_predict_segments_at_the_image_resolution(shapes_workdir, tmp_path, capsys):
    sizes = [(64, 64), (45, 77), (31, 33)]
    paths = [image_file(tmp_path / f"shapes{h}x{w}.jpg", h, w, 3, seed=h) for h, w in sizes]
    out = tmp_path / "out"
    assert main(["predict", "--workdir", str(shapes_workdir), *paths, "--out", str(out)]) == 0
    records = json.loads((out / "predictions.json").read_text())
    for (height, width), record in zip(sizes, records, strict=True):
        stem = out / f"shapes{height}x{width}"
        mask = np.asarray(Image.open(f"{stem}_mask.png"))
        assert mask.shape == (height, width) and mask.max() < 4
        assert Image.open(f"{stem}_heatmaps.png").size[0] > 0
        assert abs(sum(record["class_fractions"].values()) - 1) < 1e-6


def test_counting_gives_a_density_of_the_image_size_and_its_sum(tmp_path):
    run = untrained_run("shapes_counting.py", ["model.overrides.width=4", "model.overrides.depth=2"])
    pixels = np.random.default_rng(0).integers(0, 256, (45, 77, 3), dtype=np.uint8)
    density = np.asarray(run.task.density(dense_output(run, pixels)[None]))[0]
    assert density.shape == (45, 77)
    record = counting(run, pixels, str(tmp_path / "image"))
    assert record["count"] == pytest.approx(float(density.sum()), rel=1e-5)
    assert Image.open(tmp_path / "image_density.png").size[0] > 0


def test_multilabel_gives_each_class_s_probability_and_presence_at_the_run_s_thresholds(tmp_path):
    model = create_model("lenet5", num_classes=3, in_channels=3)
    variables = jax.jit(model.init)(KEY, jnp.zeros((1, 32, 32, 3)))
    names = ("circle", "ring", "star")
    dataset = types.SimpleNamespace(info=types.SimpleNamespace(class_names=names))
    preprocess = Preprocess(image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3)
    run = TrainedRun(str(tmp_path), None, 0, model, variables, preprocess, dataset, Multilabel(), (32, 32, 3))
    pixels = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    batch = preprocess.on_device({"image": preprocess.apply({"image": pixels, "label": 0})["image"][None]})
    expected = np.asarray(jax.nn.sigmoid(run.apply(batch["image"])[0]))  # the evaluation's preprocessing
    untuned = multilabel(run, pixels, str(tmp_path / "image"))["labels"]
    assert [r["name"] for r in untuned] == list(names)
    assert np.allclose([r["probability"] for r in untuned], expected, atol=1e-6)
    assert [r["present"] for r in untuned] == list(expected >= 0.5)
    thresholds = [0.0, 1.0, float(expected[2])]  # always, never, at its own probability (inclusive)
    write_summary_json(str(tmp_path), {"test_thresholds": thresholds})
    assert [r["present"] for r in multilabel(run, pixels, str(tmp_path / "image"))["labels"]] == [True, False, True]


def test_keypoints_are_located_in_the_image_at_its_own_size(tmp_path):
    run = untrained_run("shapes_keypoints.py", ["model.overrides.width=4", "model.overrides.depth=1"])
    pixels = np.random.default_rng(0).integers(0, 256, (45, 77, 3), dtype=np.uint8)
    expected = np.asarray(run.task.predict(dense_output(run, pixels)[None]))[0]
    record = keypoints(run, pixels, str(tmp_path / "image"))
    assert list(record["keypoints"]) == list(run.dataset.info.class_names)
    np.testing.assert_allclose(list(record["keypoints"].values()), expected, rtol=1e-6)
    assert all(0 <= row <= 45 and 0 <= col <= 77 for row, col in record["keypoints"].values())
    assert Image.open(tmp_path / "image_keypoints.png").size[0] > 0


def test_bad_predict_inputs_fail_with_one_line(digits_workdir, tmp_path, capsys):
    assert main(["predict", "--workdir", str(digits_workdir), str(tmp_path / "missing.png")]) == 2
    assert "no image file" in capsys.readouterr().err
    (tmp_path / "not_an_image.png").write_text("hello")
    assert main(["predict", "--workdir", str(digits_workdir), str(tmp_path / "not_an_image.png")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["predict", "--workdir", str(tmp_path), image_file(tmp_path / "a.png", 8, 8, 1)]) == 2
    assert "holds no config.json" in capsys.readouterr().err
    png = image_file(tmp_path / "b.png", 40, 40, 1)
    assert main(["predict", "--workdir", str(digits_workdir), png, "--step", "3"]) == 2
    assert "no intact checkpoint of step 3" in capsys.readouterr().err

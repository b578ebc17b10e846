"""The task interface: what `make_task` builds and refuses, and the dense tasks' panels (jitted once per run)."""

import re

import pytest

from cnnjax.config import base_config
from cnnjax.data.dataset import open_dataset
from cnnjax.tasks import Classification, Counting, Segmentation, make_task
from tests.tasks.panel_checks import LinearPixels, assert_panels_written_and_compiled_once

SHAPES = "shapes_segmentation"


def config_for(task: str, dataset: str, model: str, **loss):
    config = base_config()
    config.task, config.dataset.name, config.model.name = task, dataset, model
    config.dataset.image_size = 16
    config.loss.update(loss)
    return config


def test_make_task_builds_each_task_with_its_loss_settings(data_dir):
    shapes = open_dataset("shapes_segmentation")
    digits = make_task(config_for("classification", "digits", "lenet5", label_smoothing=0.1), open_dataset("digits"))
    assert digits == Classification(label_smoothing=0.1)
    segmentation = make_task(config_for("segmentation", "shapes_segmentation", "unet", dice_weight=0.5), shapes)
    assert segmentation == Segmentation(num_classes=len(shapes.info.class_names), dice_weight=0.5)
    assert make_task(config_for("counting", "shapes_segmentation", "unet"), shapes) == Counting()


@pytest.mark.parametrize(
    ("task", "dataset", "model", "loss", "message"),
    [
        ("detection", "digits", "lenet5", {}, "config.task is 'detection'; choose one of classification"),
        ("counting", "digits", "lenet5", {}, "dataset 'digits' serves classification; set --config.task="),
        ("counting", SHAPES, "resnet18", {}, "is a classification model (counting needs a dense output)"),
        ("segmentation", SHAPES, "lenet5", {}, "pick one from cnnjax.models.list_models(task='segmentation')"),
        ("segmentation", SHAPES, "unet", {"class_weights": (1.0,)}, "has 1 entries for"),
    ],
)
def test_make_task_refuses_what_the_dataset_or_model_cannot_do(data_dir, task, dataset, model, loss, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_task(config_for(task, dataset, model, **loss), open_dataset(dataset))


@pytest.mark.parametrize("task", ["segmentation", "counting"])
def test_dense_panels_are_written_and_compiled_once(data_dir, tmp_path, task):
    config = config_for(task, "shapes_segmentation", "unet")
    dataset = open_dataset("shapes_segmentation")
    task = make_task(config, dataset)
    dataset = dataset.for_task(task.name)
    preprocess = task.preprocess(config, dataset)
    assert_panels_written_and_compiled_once(task, dataset, preprocess, dataset.info.num_classes, tmp_path)


def test_classification_has_no_panels(data_dir):
    config = config_for("classification", "digits", "lenet5")
    dataset = open_dataset("digits")
    task = make_task(config, dataset)
    assert task.panels(LinearPixels(), dataset, task.preprocess(config, dataset)) is None


@pytest.mark.parametrize(
    "task,result,expected",
    [
        (Classification(), {"accuracy": 0.98148, "count": 270}, "test accuracy 98.15% (270 examples)"),
        (
            Segmentation(num_classes=4),
            {"miou": 0.841, "pixel_accuracy": 0.963, "count": 300},
            "test mIoU 84.10% · pixel accuracy 96.30% (300 images)",
        ),
        (
            Counting(),
            {"count_mae": 0.12, "count_rmse": 0.18, "mean_count": 2.5, "count": 300},
            "test count MAE 0.120 · RMSE 0.180 (mean count 2.50, 300 images)",
        ),
    ],
)
def test_each_task_leads_the_summary_line_with_its_test_metrics(task, result, expected):
    assert task.headline_line(result) == expected

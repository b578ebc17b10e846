"""Segmentation end to end through `cnnjax train` (the pets run: tests/experiments): every shapes config
trains, periodic evaluation uses the validation split and writes PNG panels, trained parameters segment inputs of
any size, multi-device evaluation equals one device, and a SIGTERM-stopped run resumes exactly."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_runs import experiment, train
from in_process_stop import sigterm_when, train_rows_at_least
from subprocesses import read_checkpoint_state, run_worker

from cnnjax.config import load_config
from cnnjax.models import create_model
from cnnjax.reporting import read_metrics

SHRUNK = {  # one small compile per family
    "unet": ("model.overrides.width=4", "model.overrides.depth=2"),
    "unet_transposed": ("model.overrides.width=4", "model.overrides.depth=2"),
    "fcn": ("model.overrides.backbone_overrides={'stage_sizes': (1, 1, 1, 1), 'width': 8}",),
    "deeplabv3": (
        "model.overrides.backbone_overrides={'stage_sizes': (1, 1, 1, 1), 'width': 8}",
        "model.overrides.width=16",
    ),
}
TWO_STEPS = ("train.num_steps=2", "train.batch_size=8", "train.eval_every_steps=1", "train.eval_panels=2")


@pytest.fixture(scope="module")
def unet_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("unet")
    assert train(workdir, experiment("shapes_segmentation.py:unet"), *SHRUNK["unet"], *TWO_STEPS) == 0
    return workdir


def test_unet_run_evaluates_on_validation_writes_panels_and_a_summary(unet_run):
    validation = read_metrics(str(unet_run), "validation")
    assert [row["step"] for row in validation] == [1, 2]
    assert all(0.0 <= row["miou"] <= 1.0 and 0.0 <= row["pixel_accuracy"] <= 1.0 for row in validation)
    assert [row["step"] for row in read_metrics(str(unet_run), "test")] == [2]
    panels = sorted(p.name for p in (unet_run / "panels").iterdir())
    assert panels == ["test_step0000002.png", "validation_step0000001.png", "validation_step0000002.png"]
    assert (unet_run / "panels" / panels[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((unet_run / "summary.json").read_text())
    assert summary["task"] == "segmentation" and summary["num_test_examples"] == 300
    assert len(summary["test_per_class_iou"]) == 4
    assert "test mIoU" in summary["line"]


def test_trained_params_segment_three_input_sizes_including_odd_ones(unet_run):
    config = load_config(experiment("shapes_segmentation.py:unet"), [f"{o}" for o in SHRUNK["unet"]])
    model = create_model(config.model.name, num_classes=4, **config.model.overrides.to_dict())
    state = read_checkpoint_state(unet_run, 2)
    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
    for height, width in ((64, 64), (37, 53), (81, 95)):
        logits = apply(variables, jnp.zeros((1, height, width, 3)))
        assert logits.shape == (1, height, width, 4)
        assert np.isfinite(np.asarray(logits)).all()


@pytest.mark.parametrize("arg", ["unet_transposed", "fcn", "deeplabv3"])
def test_every_shapes_config_trains_through_the_cli(tmp_path, arg):
    assert train(tmp_path, experiment(f"shapes_segmentation.py:{arg}"), *SHRUNK[arg], *TWO_STEPS) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0.0 <= summary["test_miou"] <= 1.0 and summary["steps"] == 2


def test_classification_model_for_a_segmentation_task_is_refused_before_compile(tmp_path, capsys):
    code = train(tmp_path, experiment("shapes_segmentation.py:unet"), "model.name='resnet18'")
    assert code == 2
    assert "model 'resnet18' is a classification model" in capsys.readouterr().err


def test_four_device_evaluation_and_step_equal_one_device():
    output = run_worker("segmentation_equivalence", num_devices=4)
    assert output.strip().endswith("OK")


def test_sigterm_resumes_a_segmentation_run_exactly(tmp_path, capsys):
    overrides = (
        *SHRUNK["unet"],
        "train.num_steps=30",
        "train.batch_size=8",
        "train.log_every_steps=1",
        "train.eval_every_steps=0",
        "train.checkpoint_every_steps=10",
        "train.eval_panels=0",
    )
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    config = experiment("shapes_segmentation.py:unet")
    # Every run trains in this process (no start-up); the stop is a SIGTERM to the process, as for a launched run.
    assert train(reference, config, *overrides) == 0
    with sigterm_when(train_rows_at_least(interrupted, 12)) as caught:
        assert train(interrupted, config, *overrides) == 0
    assert not caught and "stopped by SIGTERM at step" in capsys.readouterr().out
    assert train(interrupted, config, *overrides) == 0
    losses = [(r["step"], r["loss"]) for r in read_metrics(str(interrupted), "train")]
    assert losses == [(r["step"], r["loss"]) for r in read_metrics(str(reference), "train")]
    assert [s for s, _ in losses] == list(range(1, 31))
    for a, b in zip(
        jax.tree.leaves(read_checkpoint_state(interrupted, 30)["params"]),
        jax.tree.leaves(read_checkpoint_state(reference, 30)["params"]),
    ):
        np.testing.assert_array_equal(a, b)

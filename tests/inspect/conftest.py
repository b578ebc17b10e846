"""Trained runs the visualisation tests share, each trained once for the package's tests: the default experiment
(LeNet-5 on digits) shortened, and a shrunk U-Net on the shapes segmentation, trained briefly."""

import pytest
from experiment_runs import experiment, train

from cnnjax.inspect.layers import PixelModel
from cnnjax.inspect.trained_run import load_run

QUIET = ("train.eval_every_steps=0", "train.log_every_steps=100")
DIGITS_SHORT = ("train.num_steps=300", "train.checkpoint_every_steps=300", *QUIET)
# 200 steps at a higher learning rate: circles and rectangles are learnt (test mIoU ~32 %), triangles not yet.
UNET_SHORT = (
    "model.overrides.width=8",
    "model.overrides.depth=2",
    "optimizer.learning_rate=4e-3",
    "train.num_steps=200",
    "train.checkpoint_every_steps=200",
    "train.eval_batch_size=100",
    *QUIET,
)


def trained(tmp_path_factory, name: str, config: str, overrides) -> str:
    """The workdir of `cnnjax train --config experiments/CONFIG` with `overrides`, trained here."""
    workdir = tmp_path_factory.mktemp(name)
    assert train(workdir, experiment(config), *overrides) == 0
    return str(workdir)


@pytest.fixture(scope="package")
def digits_workdir(tmp_path_factory):
    return trained(tmp_path_factory, "digits", "digits_lenet5.py", DIGITS_SHORT)


@pytest.fixture(scope="package")
def shapes_workdir(tmp_path_factory):
    return trained(tmp_path_factory, "shapes", "shapes_segmentation.py:unet", UNET_SHORT)


@pytest.fixture(scope="package")
def digits_run(digits_workdir):
    return load_run(digits_workdir)


@pytest.fixture(scope="package")
def digits_net(digits_run):
    return PixelModel.of_run(digits_run)


@pytest.fixture(scope="package")
def shapes_run(shapes_workdir):
    return load_run(shapes_workdir)

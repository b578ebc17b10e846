"""Launching experiment files through `cnnjax train`, on real or `tfds.testing.mock_data` data."""

import json
import os

import tensorflow_datasets as tfds
from subprocesses import IN_TRAINER_DATA
from tfds_fakes import fake_prepared

from cnnjax.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def experiment(name: str) -> str:
    return os.path.join(REPO, "experiments", name)


def train(workdir, config: str, *overrides: str) -> int:
    overrides = (*IN_TRAINER_DATA, *overrides)
    return main(["train", "--config", config, "--workdir", str(workdir), *[f"--config.{o}" for o in overrides]])


def train_on_mock_data(
    tmp_path, dataset: str, config: str, *overrides: str, splits=("train", "test"), size=16, batch_size=8
):
    """Trains `config` for one step on `size` mock examples per split; returns the run's summary."""
    data_dir = str(tmp_path / "data")
    fake_prepared(dataset, data_dir, size=size, splits=splits)
    with tfds.testing.mock_data(num_examples=size, data_dir=data_dir):
        code = train(
            tmp_path / "run",
            config,
            *overrides,
            "train.num_steps=1",
            f"train.batch_size={batch_size}",
            f"train.eval_batch_size={batch_size}",
            f"dataset.data_dir='{data_dir}'",
        )
    assert code == 0
    return json.loads((tmp_path / "run" / "summary.json").read_text())

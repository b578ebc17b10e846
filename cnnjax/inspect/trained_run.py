"""A finished (or checkpointed) run, loaded for inspection: its config, model, preprocessing and variables.

``load_run(workdir)`` reads ``workdir/config.json`` (a seed group's member directory ``DIR/seed<s>`` is a run
directory too) and restores the parameters and BatchNorm statistics of the newest good checkpoint (or ``step``)
as the host arrays a single device applies: the saved state is canonical (one set of statistics), so nothing
depends on how many devices trained it.  The model is built for this host's platform, so a run trained on a GPU
loads on a CPU.  Nothing is written.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

import flax.linen as nn
import jax
import ml_collections

from cnnjax.checkpoint.manager import CHECKPOINTS, good_steps
from cnnjax.checkpoint.variables import checkpoint_step, restore_variables
from cnnjax.checkpoint.workdir import CONFIG_FILE
from cnnjax.config.schema import with_defaults
from cnnjax.data.dataset import Dataset
from cnnjax.data.preprocess import Preprocessing
from cnnjax.errors import InvalidInputError
from cnnjax.tasks import Task
from cnnjax.train.experiment import prepare_experiment



@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """What inspecting a run needs: ``model.apply(variables, preprocess.on_device(batch)['image'])`` gives the
    trained model's output on a host batch."""

    workdir: str
    config: ml_collections.ConfigDict
    step: int
    model: nn.Module
    variables: dict
    preprocess: Preprocessing
    dataset: Dataset
    task: Task
    image_shape: tuple[int, int, int]

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.info.class_names)

    def apply(self, images) -> jax.Array:
        """The model's inference output (``train=False``) on normalised images; compiled once per shape."""
        return self._inference(self.variables, images)

    @functools.cached_property
    def _inference(self):
        return jax.jit(lambda variables, images: self.model.apply(variables, images, train=False))


def load_run(workdir: str, step: int | None = None) -> TrainedRun:
    """The run in ``workdir`` at its newest good checkpoint, or at ``step`` (module docstring); a workdir without
    a config or checkpoint raises ``InvalidInputError`` naming what is missing."""
    config = run_config(workdir)
    directory = os.path.join(workdir, CHECKPOINTS)
    if not good_steps(directory):
        raise InvalidInputError(
            f"{workdir} holds no intact checkpoint: train it first (cnnjax train ... --workdir {workdir})"
        )
    step = checkpoint_step(directory, step)
    exp = prepare_experiment(config)
    variables = restore_variables(directory, step)
    return TrainedRun(
        workdir, config, step, exp.model, variables, exp.preprocess, exp.dataset, exp.task, exp.image_shape
    )


def run_config(workdir: str) -> ml_collections.ConfigDict:
    """The config ``cnnjax train`` stored in ``workdir``."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.isfile(path):
        members = (
            sorted(name for name in os.listdir(workdir) if name.startswith("seed")) if os.path.isdir(workdir) else []
        )
        hint = f"; its seeds are run directories: {os.path.join(workdir, members[0])}" if members else ""
        raise InvalidInputError(
            f"--workdir {workdir} holds no {CONFIG_FILE}: not the workdir of a cnnjax train run{hint}"
        )
    with open(path) as file:
        return ml_collections.ConfigDict(with_defaults(json.load(file)))

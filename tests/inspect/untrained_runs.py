"""A `TrainedRun` of an experiment file at its initial weights, without training: for the inspect code that only
needs a run's model, preprocessing, dataset and task."""

import jax
import jax.numpy as jnp
from abstract_models import KEY
from experiment_runs import experiment

from cnnjax.config import load_config
from cnnjax.inspect.trained_run import TrainedRun
from cnnjax.train.experiment import prepare_experiment


def untrained_run(config_file: str, overrides: list[str]) -> TrainedRun:
    """`experiments/<config_file>` with `overrides`, its model initialised from `KEY` (workdir '', step 0)."""
    config = load_config(experiment(config_file), overrides)
    exp = prepare_experiment(config)
    variables = jax.jit(exp.model.init)(KEY, jnp.zeros((1, *exp.image_shape)))
    return TrainedRun("", config, 0, exp.model, variables, exp.preprocess, exp.dataset, exp.task, exp.image_shape)

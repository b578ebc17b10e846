"""The train step that ``cnnjax benchmark`` and ``benchmarks/models.py`` time: ``make_train_step`` (classification
loss, SGD momentum, constant rate) mapped over the devices by ``DataParallel``, the state donated, the batch placed
on the devices once."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
import optax

from cnnjax.parallel import REPLICATED, SHARDED, DataParallel
from cnnjax.tasks.classification import Classification
from cnnjax.train.state import create_train_state, state_layouts
from cnnjax.train.steps import as_is, make_train_step

LEARNING_RATE, MOMENTUM = 0.1, 0.9


class TrainBench(NamedTuple):
    step: object  # mapped `train_step(state, batch) -> (state, metrics)`, state donated
    state: object  # device state
    batch: dict  # device batch
    variables: dict  # host {'params', 'batch_stats'}: for FLOP counting


def synthetic_batch(global_batch_size: int, image_shape: tuple[int, int, int], num_classes: int) -> dict:
    """This process's share of a global batch: standard-normal float32 images, labels cycling over the classes."""
    local = global_batch_size // jax.process_count()
    images = np.random.default_rng(0).standard_normal((local, *image_shape), np.float32)
    return {"image": images, "label": (np.arange(local) % num_classes).astype(np.int32)}


def train_bench(
    model, data_parallel: DataParallel, local_batch: dict, compiler_options: dict | None = None, on_device=as_is
) -> TrainBench:
    """Initialises ``model`` for ``local_batch``'s images and places state and batch on the devices; the step is
    compiled with XLA ``compiler_options`` (``cnnjax.cpu_runtime.compiler_options``) and applies ``on_device``
    (a preprocessing's device half) to host batches."""
    tx = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    schedule = optax.constant_schedule(LEARNING_RATE)
    train_step = make_train_step(model, tx, schedule, Classification(), on_device)
    state = create_train_state(model, tx, local_batch["image"].shape[1:], seed=0)
    layouts = state_layouts(per_device_batch_stats=False)
    return TrainBench(
        step=data_parallel.map(
            train_step, (layouts, SHARDED), (layouts, REPLICATED), donate_argnums=(0,), compiler_options=compiler_options
        ),
        state=data_parallel.put(state),
        batch=data_parallel.shard_batch(local_batch),
        variables={"params": state.params, "batch_stats": state.batch_stats},
    )

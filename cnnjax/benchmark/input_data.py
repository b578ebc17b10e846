"""An experiment config's real input pipeline, for ``cnnjax benchmark --with_data CONFIG``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jax

from cnnjax.config import load_config
from cnnjax.data.catalog import ensure_prepared, for_task, open_split, resolve_data_dir
from cnnjax.data.pipeline import train_batches
from cnnjax.errors import InvalidInputError
from cnnjax.train.loop import make_preprocess


def config_batches(
    config_file: str, global_batch_size: int
) -> tuple[Iterator[dict], Callable[[dict], dict], tuple[int, int, int], int]:
    """(this process's host train batches of ``global_batch_size`` from the config's dataset and preprocessing,
    the preprocessing's device half (``on_device``), their image shape (H, W, C), the number of classes).
    Raises ``InvalidInputError`` for a config whose task is not classification, ``DatasetNotPreparedError``
    for a dataset not on disk."""
    config = load_config(config_file)
    if config.task != "classification":
        raise InvalidInputError(
            f"--with_data {config_file}: the benchmark trains classifiers; its task is {config.task!r}"
        )
    data_dir = resolve_data_dir(config.dataset.data_dir)
    info = for_task(ensure_prepared(config.dataset.name, data_dir), config.task)
    preprocess = make_preprocess(config, info, data_dir)
    batches = train_batches(
        open_split(config.dataset.name, config.dataset.train_split, data_dir, config.task),
        preprocess=preprocess,
        global_batch_size=global_batch_size,
        seed=config.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    size = config.dataset.image_size
    return batches, preprocess.on_device, (size, size, info.image_shape[-1]), info.num_classes

"""An experiment config's real input pipeline, for ``cnnjax benchmark --with_data CONFIG``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jax

from cnnjax.config import load_config
from cnnjax.config.schema import data_seed
from cnnjax.data.dataset import open_dataset
from cnnjax.data.pipeline import HostShare, train_batches
from cnnjax.errors import InvalidInputError
from cnnjax.tasks import make_task


def config_batches(
    config_file: str, global_batch_size: int
) -> tuple[Iterator[dict], Callable[[dict], dict], tuple[int, int, int], int]:
    """(this process's host train batches of ``global_batch_size`` from the config's dataset and preprocessing, the
    preprocessing's device half (``on_device``), their image shape (H, W, C), the number of classes). Raises
    ``InvalidInputError`` for a config whose task is not classification, ``DatasetNotPreparedError`` for a dataset
    not on disk."""
    config = load_config(config_file)
    if config.task != "classification":
        raise InvalidInputError(
            f"--with_data {config_file}: the benchmark trains classifiers; its task is {config.task!r}"
        )
    dataset = open_dataset(config.dataset.name, config.dataset.data_dir)
    task = make_task(config, dataset)
    dataset = dataset.for_task(task.name)
    preprocess = task.preprocess(config, dataset)
    batches = train_batches(
        dataset.open(config.dataset.train_split),
        preprocess=preprocess,
        global_batch_size=global_batch_size,
        seed=data_seed(config),
        share=HostShare(jax.process_index(), jax.process_count()),
    )
    size = config.dataset.image_size
    return batches, preprocess.on_device, (size, size, dataset.info.image_shape[-1]), dataset.info.num_classes

"""One prepared dataset as a run uses it: its info for one task, its splits, and its per-pixel mean image.

`open_dataset` is the data layer's one entry for a run: it resolves the data directory, prepares a bundled
dataset on first use (process 0 first, then the others, so no two processes generate it at once) and returns
a `Dataset`, whose methods reach the catalog with the dataset's name and directory.
"""

import dataclasses

import jax
import numpy as np
from jax.experimental import multihost_utils

from cnnjax.data import catalog


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A prepared dataset; `info` describes it for the task `info.task` (`for_task` switches)."""

    info: catalog.DatasetInfo
    data_dir: str

    def for_task(self, task: str) -> "Dataset":
        """This dataset for the use `task`, one of `info.tasks` (`catalog.for_task`)."""
        return dataclasses.replace(self, info=catalog.for_task(self.info, task))

    def open(self, split: str):
        """The split as a random-access source, labelled for `info.task` (`catalog.open_split`)."""
        return catalog.open_split(self.info.name, split, self.data_dir, self.info.task)

    def mean_image(self, split: str, image_size: int) -> np.ndarray:
        """The split's per-pixel mean image at `image_size` (`catalog.mean_image`, cached on disk)."""
        return catalog.mean_image(self.info.name, split, self.data_dir, image_size)


def open_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """The prepared dataset `name` in `data_dir` (`catalog.resolve_data_dir`), described for its own task.

    Raises:
      ValueError: unknown dataset.
      DatasetNotPreparedError: see `catalog.ensure_prepared`.
    """
    data_dir = catalog.resolve_data_dir(data_dir)
    if jax.process_index() == 0:
        info = catalog.ensure_prepared(name, data_dir)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("cnnjax: dataset prepared")
        info = catalog.ensure_prepared(name, data_dir)
    return Dataset(info, data_dir)

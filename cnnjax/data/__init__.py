"""cnnjax.data: TFDS datasets stored as array_record, read through Grain pipelines (no TensorFlow)."""

from cnnjax.data.catalog import (
    DatasetInfo,
    DatasetNotPreparedError,
    ensure_prepared,
    open_split,
    prepare,
    resolve_data_dir,
)
from cnnjax.data.pipeline import Preprocess, eval_batches, train_batches

__all__ = [
    "DatasetInfo",
    "DatasetNotPreparedError",
    "Preprocess",
    "ensure_prepared",
    "eval_batches",
    "open_split",
    "prepare",
    "resolve_data_dir",
    "train_batches",
]

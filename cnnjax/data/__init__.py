"""cnnjax.data: TFDS datasets stored as array_record, read through Grain pipelines (no TensorFlow).

Names are imported on first use, so data worker processes, which import the preprocessing modules,
do not import TFDS.
"""

import importlib

_EXPORTS = {
    "DatasetInfo": "catalog",
    "DatasetNotPreparedError": "catalog",
    "ensure_prepared": "catalog",
    "open_split": "catalog",
    "prepare": "catalog",
    "resolve_data_dir": "catalog",
    "HostShare": "pipeline",
    "eval_batches": "pipeline",
    "train_batches": "pipeline",
    "Preprocess": "preprocess",
    "display_images": "preprocess",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cnnjax.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cnnjax.data.{_EXPORTS[name]}"), name)

"""Exact evaluation over a whole split: padded batches, masked examples, sums across devices and batches."""

import numpy as np

from cnnjax.parallel import DataParallel


def evaluate(eval_step, data_parallel: DataParallel, state, batches, task) -> dict:
    """Runs the mapped `eval_step` over `batches` and summarises the task's sums (every real example
    counts exactly once); integer sums add up in int64, the others in float64."""
    totals = None
    for batch in batches:
        sums = data_parallel.first(eval_step(state, data_parallel.shard_batch(batch)))
        sums = {
            k: np.asarray(v, np.int64 if np.issubdtype(v.dtype, np.integer) else np.float64) for k, v in sums.items()
        }
        totals = sums if totals is None else {k: totals[k] + v for k, v in sums.items()}
    if totals is None or int(totals["count"]) == 0:
        raise ValueError("the evaluation split is empty")
    return task.summarize(totals)

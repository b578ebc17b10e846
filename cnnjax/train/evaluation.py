"""Exact evaluation over a whole split: padded batches, masked examples, sums across devices."""

import numpy as np

from cnnjax.parallel import DataParallel


def evaluate(eval_step, data_parallel: DataParallel, state, batches) -> dict[str, float]:
    """Runs the mapped `eval_step` over `batches`; every real example counts exactly once."""
    sums = [eval_step(state, data_parallel.shard_batch(batch)) for batch in batches]
    host = [data_parallel.first(s) for s in sums]
    count = int(sum(int(s["count"]) for s in host))
    if count == 0:
        raise ValueError("the evaluation split is empty")
    correct = int(sum(int(s["correct"]) for s in host))
    loss_sum = float(sum(np.float64(s["loss_sum"]) for s in host))
    return {"loss": loss_sum / count, "accuracy": correct / count, "count": count}

"""One train step of a model on the first device, as the training loop maps it, read back to the host."""

import jax

from cnnjax.parallel import REPLICATED, SHARDED, DataParallel
from cnnjax.train.state import state_layouts
from cnnjax.train.steps import make_train_step


def train_one_step(model, tx, schedule, task, state, batch):
    """(new host state, host metrics) after one step of `state` (host arrays) on `batch` (host arrays)."""
    dp = DataParallel(jax.devices()[:1])
    layouts = state_layouts(per_device_batch_stats=False)
    step = dp.map(make_train_step(model, tx, schedule, task), (layouts, SHARDED), (layouts, REPLICATED))
    new, metrics = step(dp.put(state), dp.shard_batch(batch))
    return dp.to_host(new), dp.to_host(metrics)

"""Exact evaluation over a whole split: padded batches, masked examples, sums across devices and batches.

The sums stay on the devices and cross to the host once per evaluation. Integer sums are exact in int32:
each grows by at most one per label element of a batch, and they are moved to host int64 before they could
reach 2^31. The evaluation stops between batches when `should_stop()` says so (a SIGTERM), on every process
at the same batch.
"""

from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.compile_time import timed_compile
from cnnjax.errors import InvalidInputError
from cnnjax.parallel import REPLICATED, SHARDED, DataParallel
from cnnjax.tasks.protocol import Task
from cnnjax.train.ema import EMA

INT32_LIMIT = 2**31 - 1


class Evaluator:
    """Runs a per-device `eval_step(state, batch) -> sums` over a split and summarises the task's sums; with
    `members=K` (a seed group's vmapped step: sums with a leading member axis) one summary per member. Sums that
    hold the moving average's under `EMA` (`make_eval_step(with_ema=True)`) give a summary with its summary
    under `EMA`."""

    def __init__(
        self,
        data_parallel: DataParallel,
        eval_step: Callable,
        state_layouts,
        task: Task,
        compiler_options=None,
        members: int = 0,
    ):
        self._dp, self._task, self._members = data_parallel, task, members

        def add_batch(state, totals, batch):
            return jax.tree.map(jnp.add, totals, eval_step(state, batch))

        self._sums = data_parallel.map(eval_step, (state_layouts, SHARDED), REPLICATED)
        self._add = data_parallel.map(
            add_batch, (state_layouts, REPLICATED, SHARDED), REPLICATED, compiler_options=compiler_options
        )
        self._sums_shape = None  # traced once: every batch of every split has the same shapes

    def compile(self, state, local_batch: dict) -> float:
        """Compiles for batches shaped like `local_batch` (this process's share); returns the seconds it took."""
        batch = self._dp.shard_batch(local_batch)
        self._add, seconds = timed_compile(self._add, state, self._zeros(state, batch), batch)
        return seconds

    def _zeros(self, state, batch):
        if self._sums_shape is None:
            self._sums_shape = jax.eval_shape(self._sums, state, batch)
        return self._dp.put(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), self._sums_shape))

    def __call__(
        self, state, batches: Iterable[dict], should_stop: Callable[[], bool] = lambda: False
    ) -> dict | list[dict] | None:
        """The task's summary of the split (a list, one per member, with `members`), or None when `should_stop()`
        turned True first."""
        host_totals, totals, since_flush = None, None, 0
        for local_batch in batches:
            batch = self._dp.shard_batch(local_batch)
            if totals is None:
                totals, label_elements = self._zeros(state, batch), int(np.prod(batch["label"].shape))
            if (since_flush + 1) * label_elements > INT32_LIMIT:
                host_totals = _add_host(host_totals, self._dp.to_host(totals))
                totals, since_flush = self._zeros(state, batch), 0
            totals = self._add(state, totals, batch)
            since_flush += 1
            if should_stop():
                return None
        if totals is None:
            raise InvalidInputError("the evaluation split is empty")
        host_totals = _add_host(host_totals, self._dp.to_host(totals))
        if int(np.max(host_totals["count"])) == 0:
            raise InvalidInputError("the evaluation split is empty")
        if not self._members:
            return self._summarize(host_totals)
        return [self._summarize(jax.tree.map(lambda v, i=i: v[i], host_totals)) for i in range(self._members)]

    def _summarize(self, totals: dict) -> dict:
        result = self._task.summarize({k: v for k, v in totals.items() if k != EMA})
        return {**result, EMA: self._task.summarize(totals[EMA])} if EMA in totals else result


def _add_host(host_totals: dict | None, sums: dict) -> dict:
    """Host running totals: integer sums in int64, the others in float64."""
    sums = jax.tree.map(lambda v: np.asarray(v, np.int64 if np.issubdtype(v.dtype, np.integer) else np.float64), sums)
    return sums if host_totals is None else jax.tree.map(np.add, host_totals, sums)

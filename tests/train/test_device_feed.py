"""The parts between the host pipeline and the step: device prefetch, evaluation sums kept on the device."""

import time

import jax
import numpy as np
import pytest

from cnnjax.parallel import REPLICATED, DataParallel, DevicePrefetch
from cnnjax.train import evaluation
from cnnjax.train.evaluation import Evaluator


def test_prefetch_keeps_order_peeks_without_consuming_and_raises_the_producers_error():
    placed = []

    def place(x):
        placed.append(x)
        return x * 10

    def host():
        yield from range(5)
        raise OSError("disk gone")

    batches = DevicePrefetch(host(), place, size=2)
    assert batches.peek() == 0 and next(batches) == 0
    assert [next(batches) for _ in range(4)] == [10, 20, 30, 40]
    with pytest.raises(OSError, match="disk gone"):
        next(batches)
    batches.close()


def test_prefetch_holds_at_most_its_size_ahead_and_close_stops_it():
    placed = []
    batches = DevicePrefetch(iter(range(1000)), lambda x: placed.append(x) or x, size=2)
    assert next(batches) == 0
    time.sleep(0.5)
    batches.close()
    assert len(placed) <= 4  # the one returned, two queued, one waiting to be queued


class _Counting:
    """A task whose sums are an integer count and a float total."""

    def summarize(self, totals):
        return {"count": int(totals["count"]), "total": float(totals["total"])}


def _eval_step(state, batch):
    from jax import lax

    return {
        "count": lax.psum((batch["mask"] > 0).sum(dtype=np.int32), "data"),
        "total": lax.psum((batch["label"] * batch["mask"]).sum(), "data"),
    }


def _batches():
    rng = np.random.default_rng(0)
    return [
        {"label": rng.normal(size=8).astype(np.float32), "mask": np.float32([1] * 8 if i < 4 else [1] * 3 + [0] * 5)}
        for i in range(5)
    ]


def test_evaluation_sums_stay_on_the_device_and_move_to_the_host_before_int32_could_overflow(monkeypatch):
    dp = DataParallel(jax.devices()[:1])
    evaluator = Evaluator(dp, _eval_step, REPLICATED, _Counting())
    batches = _batches()
    expected_total = float(sum((b["label"] * b["mask"]).astype(np.float64).sum() for b in batches))
    transfers = []
    to_host = dp.to_host
    monkeypatch.setattr(dp, "to_host", lambda tree: transfers.append(0) or to_host(tree))
    result = evaluator({}, batches)
    assert result["count"] == 35 and len(transfers) == 1  # one transfer per evaluation
    assert abs(result["total"] - expected_total) < 1e-5
    transfers.clear()
    monkeypatch.setattr(evaluation, "INT32_LIMIT", 20)  # 8 label elements per batch: at most 2 batches on device
    flushed = evaluator({}, batches)
    assert flushed["count"] == 35 and abs(flushed["total"] - expected_total) < 1e-5 and len(transfers) == 3


def test_evaluation_stops_between_batches_when_asked():
    dp = DataParallel(jax.devices()[:1])
    calls = []
    assert Evaluator(dp, _eval_step, REPLICATED, _Counting())({}, _batches(), lambda: calls.append(0) or len(calls) == 2) is None
    assert len(calls) == 2

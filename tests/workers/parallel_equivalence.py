"""Worker (4 emulated CPU devices): one step on 4 devices equals the 1-device step.

Also checks exact evaluation on a split that is not a multiple of the batch, and the batch-size error.
Asserts inside; prints the measured numbers.
"""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax.config import base_config  # noqa: E402
from cnnjax.data.catalog import ensure_prepared, open_split, resolve_data_dir  # noqa: E402
from cnnjax.data.pipeline import eval_batches, train_batches  # noqa: E402
from cnnjax.data.preprocess import Preprocess  # noqa: E402
from cnnjax.parallel import REPLICATED, SHARDED, DataParallel  # noqa: E402
from cnnjax.tasks import Classification  # noqa: E402
from cnnjax.train.evaluation import Evaluator  # noqa: E402
from cnnjax.train.experiment import build_model, prepare_experiment  # noqa: E402
from cnnjax.train.optimizer import make_optimizer  # noqa: E402
from cnnjax.train.state import create_train_state, state_layouts  # noqa: E402
from cnnjax.train.steps import make_eval_step, make_train_step  # noqa: E402

assert jax.device_count() == 4, jax.devices()
GLOBAL_BATCH = 32


def make_config(sync: bool):
    c = base_config()
    c.dataset.image_size = 8
    c.model.name = "simple_cnn"
    c.model.overrides.widths = (8, 16)
    c.model.overrides.convs_per_stage = 1
    c.optimizer.name = "sgd"  # first SGD step: update = -lr · (grad + wd · w), so an N× gradient shows as N×
    c.optimizer.learning_rate = 0.1
    c.parallel.sync_batch_stats = sync
    return c


def one_step(config, devices, state, batch):
    """The new state on the host, as kept on the devices (per-device statistics with their device axis) and in
    canonical form (per-device statistics averaged), and the metrics."""
    info = ensure_prepared("digits", resolve_data_dir(None))
    model = build_model(config, info.num_classes, 1, "cpu")
    tx, schedule = make_optimizer(config)
    dp = DataParallel(devices)
    layouts = state_layouts(per_device_batch_stats=not config.parallel.sync_batch_stats)
    step = dp.map(make_train_step(model, tx, schedule, Classification()), (layouts, SHARDED), (layouts, REPLICATED))
    new_state, metrics = step(dp.put(state, layouts), dp.shard_batch(batch))
    return dp.to_host(new_state), dp.to_host(dp.canonicalizer(layouts)(new_state)), dp.to_host(metrics)


def relative_update_error(old, new_ref, new):
    """max over leaves of max|Δ − Δ_ref| / max|Δ_ref| (Δ = new − old)."""
    errors = []
    for o, r, n in zip(jax.tree.leaves(old), jax.tree.leaves(new_ref), jax.tree.leaves(new)):
        ref_update = r - o
        errors.append(np.max(np.abs((n - o) - ref_update)) / np.max(np.abs(ref_update)))
    return max(errors)


def max_abs_difference(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main():
    data_dir = resolve_data_dir(None)
    info = ensure_prepared("digits", data_dir)
    preprocess = Preprocess(image_size=8, mean=info.mean, std=info.std)
    source = open_split("digits", "train", data_dir)
    host_batch = next(train_batches(source, preprocess=preprocess, global_batch_size=GLOBAL_BATCH, seed=0))
    batch = jax.tree.map(np.asarray, preprocess.on_device(host_batch))

    for sync in (True, False):
        config = make_config(sync)
        model = build_model(config, info.num_classes, 1, "cpu")
        tx, _ = make_optimizer(config)
        state = create_train_state(model, tx, (8, 8, 1), seed=0)
        one_device = jax.devices()[:1]
        _, global_step, global_metrics = one_step(config, one_device, state, batch)
        global_loss = float(global_metrics["loss"])
        quarters = []  # each device's own step on its quarter of the batch
        for i in range(4):
            part = jax.tree.map(lambda x, i=i: x[i * GLOBAL_BATCH // 4 : (i + 1) * GLOBAL_BATCH // 4], batch)
            _, local, local_metrics = one_step(config, one_device, state, part)
            quarters.append((local, float(local_metrics["loss"])))
        mean_of_quarters = jax.tree.map(
            lambda *xs: np.mean(np.asarray(xs, np.float64), axis=0), *[q[0] for q in quarters]
        )
        # Synced BatchNorm: the 4-device step is the 1-device step of the global batch. Per-device
        # BatchNorm normalises each quarter by its own statistics: the first SGD update is linear in the
        # gradient, so the reference is the mean of the quarters' steps.
        ref, ref_loss = (
            (global_step, global_loss) if sync else (mean_of_quarters, float(np.mean([q[1] for q in quarters])))
        )

        # What a wrong gradient would look like: one device's own (unsynced) update, and a 4x sum.
        unsynced_error = relative_update_error(state.params, ref.params, quarters[0][0].params)
        summed = jax.tree.map(lambda o, r: o + 4 * (r - o), state.params, ref.params)
        summed_error = relative_update_error(state.params, ref.params, summed)
        print(f"sync={sync}: an unsynced update would be off by {unsynced_error:.3g}, a 4x sum by {summed_error:.3g}")
        assert unsynced_error > 1e-2 and summed_error > 1, "the tolerance could not expose a wrong gradient"

        new, first, metrics = one_step(config, jax.devices(), state, batch)
        params_error = relative_update_error(state.params, ref.params, first.params)
        opt_error = relative_update_error(state.opt_state, ref.opt_state, first.opt_state)
        loss_error = abs(float(metrics["loss"]) - ref_loss)
        print(f"sync={sync}: update error params {params_error:.2e}, opt_state {opt_error:.2e}, loss {loss_error:.2e}")
        # Per-device reference: each quarter's params were rounded to float32 before averaging
        # (≈6e-8·|w|), which shows at ~1e-5 of a small update; its gradient (opt_state) is exact.
        params_tolerance = 1e-5 if sync else 5e-5
        assert params_error <= params_tolerance and opt_error <= 1e-5, (params_error, opt_error)
        assert loss_error <= 1e-6 * abs(ref_loss) + 1e-7
        if sync:
            stats_error = max_abs_difference(first.batch_stats, global_step.batch_stats)
            print(f"sync=True: BatchNorm statistics vs the global batch's: {stats_error:.2e}")
            assert stats_error <= 1e-6
        else:
            for device in range(4):  # each device keeps its own quarter's statistics ...
                own = jax.tree.map(lambda x, d=device: x[d], new.batch_stats)
                assert max_abs_difference(own, quarters[device][0].batch_stats) <= 1e-6
            # ... until they are averaged across devices (before evaluation and checkpoints).
            mean_error = max_abs_difference(first.batch_stats, mean_of_quarters.batch_stats)
            spread = max_abs_difference(quarters[0][0].batch_stats, quarters[1][0].batch_stats)
            print(f"sync=False: per-device spread {spread:.3g}, averaged vs mean of devices {mean_error:.2e}")
            assert spread > 1e-4 and mean_error <= 1e-6

    # Exact evaluation: 270 validation examples, global batch 64 (4 full batches + 14), 1 and 4 devices.
    config = make_config(True)
    model = build_model(config, info.num_classes, 1, "cpu")
    tx, _ = make_optimizer(config)
    state = create_train_state(model, tx, (8, 8, 1), seed=0)
    validation = open_split("digits", "validation", data_dir)
    results = {}
    for name, devices in (("1", jax.devices()[:1]), ("4", jax.devices())):
        dp = DataParallel(devices)
        batches = eval_batches(validation, preprocess=preprocess, global_batch_size=64)
        eval_step = make_eval_step(model, Classification(), preprocess.on_device)
        evaluator = Evaluator(dp, eval_step, REPLICATED, Classification())
        results[name] = evaluator(dp.put(state), batches)
        print(f"eval on {name} device(s): {results[name]}")
    assert {r["count"] for r in results.values()} == {len(validation)} == {270}
    assert len({r["accuracy"] for r in results.values()}) == 1
    assert max(abs(r["loss"] - results["1"]["loss"]) for r in results.values()) < 1e-6

    # A global batch that does not split over the devices is refused before anything is compiled.
    config = make_config(True)
    config.train.batch_size = 30
    try:
        prepare_experiment(config)
    except ValueError as e:
        print(f"batch error: {e}")
        assert "batch_size=30 does not split over 4 devices" in str(e)
    else:
        raise AssertionError("batch size 30 on 4 devices was accepted")
    print("OK")


if __name__ == "__main__":
    main()

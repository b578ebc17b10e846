"""Worker (4 emulated CPU devices): segmentation evaluation (confusion matrix, mIoU) and a segmentation train
step on 4 devices equal the 1-device results. Asserts inside; prints the numbers."""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax.config import load_config  # noqa: E402
from cnnjax.data.pipeline import eval_batches, train_batches  # noqa: E402
from cnnjax.parallel import REPLICATED, SHARDED, DataParallel  # noqa: E402
from cnnjax.train.evaluation import Evaluator  # noqa: E402
from cnnjax.train.experiment import prepare_experiment  # noqa: E402
from cnnjax.train.optimizer import make_optimizer  # noqa: E402
from cnnjax.train.state import create_train_state, state_layouts  # noqa: E402
from cnnjax.train.steps import make_eval_step, make_train_step  # noqa: E402

assert jax.device_count() == 4, jax.devices()
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    config = load_config(
        os.path.join(REPO, "experiments", "shapes_segmentation.py:unet"),
        [
            "model.overrides.width=4",
            "model.overrides.depth=2",
            "train.batch_size=8",
            # SGD without warm-up: the first update is -lr * (grad + wd * w), so a wrongly scaled gradient shows
            "optimizer.name=sgd",
            "schedule.warmup_steps=0",
        ],
    )
    exp = prepare_experiment(config)
    tx, schedule = make_optimizer(config)
    state = create_train_state(exp.model, tx, exp.image_shape, config.seed)
    host_batch = next(
        train_batches(
            exp.dataset.open("train"),
            preprocess=exp.preprocess,
            global_batch_size=8,
            seed=0,
        )
    )
    batch = jax.tree.map(np.asarray, exp.preprocess.on_device(host_batch))
    assert (batch["label"] == 255).any(), "the crop padding carries the ignore label"

    # One train step: the loss and the update equal the 1-device step's (exact global pixel-mean loss).
    steps = {}
    layouts = state_layouts(per_device_batch_stats=False)
    for name, devices in (("1", jax.devices()[:1]), ("4", jax.devices())):
        dp = DataParallel(devices)
        step = dp.map(make_train_step(exp.model, tx, schedule, exp.task), (layouts, SHARDED), (layouts, REPLICATED))
        new, metrics = dp.to_host(step(dp.put(state), dp.shard_batch(batch)))
        steps[name] = (new, {k: float(v) for k, v in metrics.items()})
        print(f"train step on {name} device(s): {steps[name][1]}")
    reference = steps["1"]
    for name, (new, metrics) in steps.items():
        assert abs(metrics["loss"] - reference[1]["loss"]) < 1e-5, name
        assert abs(metrics["pixel_accuracy"] - reference[1]["pixel_accuracy"]) < 1e-6, name
        for a, b, old in zip(
            jax.tree.leaves(new.params), jax.tree.leaves(reference[0].params), jax.tree.leaves(state.params)
        ):
            scale = max(float(np.max(np.abs(np.asarray(b) - np.asarray(old)))), 1e-12)
            assert float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / scale < 1e-3, name

    # Evaluation over the whole validation split (300 images, global batch 64: 4 full batches + 44).
    state = steps["1"][0]
    validation = exp.dataset.open("validation")
    results = {}
    for name, devices in (("1", jax.devices()[:1]), ("4", jax.devices())):
        dp = DataParallel(devices)
        batches = eval_batches(validation, preprocess=exp.preprocess, global_batch_size=64)
        eval_step = make_eval_step(exp.model, exp.task, exp.preprocess.on_device)
        results[name] = Evaluator(dp, eval_step, REPLICATED, exp.task)(dp.put(state), batches)
        print(f"eval on {name} device(s): mIoU {results[name]['miou']:.6f} count {results[name]['count']}")
    assert {r["count"] for r in results.values()} == {300}
    assert len({r["miou"] for r in results.values()}) == 1, "mIoU is computed from one summed confusion matrix"
    assert len({r["pixel_accuracy"] for r in results.values()}) == 1
    assert max(abs(r["loss"] - results["1"]["loss"]) for r in results.values()) < 1e-6
    print("OK")


if __name__ == "__main__":
    main()

"""Worker (4 emulated CPU devices): a keypoints train step and the evaluation of a split (PCK, pixel error, loss)
on 4 devices equal the 1-device results. Asserts inside; prints the numbers."""

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
DEVICES = {"1": jax.devices()[:1], "4": jax.devices()}


def main():
    config = load_config(
        os.path.join(REPO, "experiments", "shapes_keypoints.py"),
        [
            "model.overrides.width=4",
            "model.overrides.depth=2",
            "train.batch_size=8",
            # SGD without warm-up: the first update is -lr * (grad + wd * w), so a wrongly scaled gradient shows (Adam's
            # first update, about -lr * sign(grad), would amplify float noise in gradients near 0)
            "optimizer.name=sgd",
            "schedule.warmup_steps=0",
        ],
    )
    exp = prepare_experiment(config)
    tx, schedule = make_optimizer(config)
    state = create_train_state(exp.model, tx, exp.image_shape, config.seed)
    batch = next(train_batches(exp.dataset.open("train"), preprocess=exp.preprocess, global_batch_size=8, seed=0))
    assert 0 < batch["visible"].sum() < batch["visible"].size, "some keypoints cropped out: the mask matters"

    # One train step: the loss, the train PCK and the update equal the 1-device step's.
    steps = {}
    layouts = state_layouts(per_device_batch_stats=False)
    for name, devices in DEVICES.items():
        dp = DataParallel(devices)
        train_step = make_train_step(exp.model, tx, schedule, exp.task, exp.preprocess.on_device)
        step = dp.map(train_step, (layouts, SHARDED), (layouts, REPLICATED))
        new, metrics = dp.to_host(step(dp.put(state), dp.shard_batch(batch)))
        steps[name] = (new, {k: float(v) for k, v in metrics.items()})
        print(f"train step on {name} device(s): {steps[name][1]}")
    (reference, reference_metrics), (new, metrics) = steps["1"], steps["4"]
    assert abs(metrics["loss"] - reference_metrics["loss"]) <= 1e-6 * reference_metrics["loss"]
    assert metrics["pck"] == reference_metrics["pck"]
    for a, b, old in zip(jax.tree.leaves(new.params), jax.tree.leaves(reference.params), jax.tree.leaves(state.params)):
        # Updates are 1e-5 to 1e-4; the head's bias gets ~1e-11: a softmax over pixels ignores a per-channel constant,
        # so its gradient is 0 but for float noise, which the floor of 1e-6 keeps from counting.
        scale = max(float(np.max(np.abs(np.asarray(b) - np.asarray(old)))), 1e-6)
        assert float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / scale < 1e-3

    # Evaluation of 100 validation images, global batch 32: 3 full batches and one of 4 real + 28 padding.
    validation = exp.dataset.open("validation[:100]")
    results = {}
    for name, devices in DEVICES.items():
        dp = DataParallel(devices)
        batches = eval_batches(validation, preprocess=exp.preprocess, global_batch_size=32)
        eval_step = make_eval_step(exp.model, exp.task, exp.preprocess.on_device)
        results[name] = Evaluator(dp, eval_step, REPLICATED, exp.task)(dp.put(reference), batches)
        print(f"eval on {name} device(s): {results[name]}")
    one, four = results["1"], results["4"]
    assert one["count"] == four["count"] == 100
    assert one["visible_keypoints"] == four["visible_keypoints"]
    assert one["pck"] == four["pck"] and one["per_keypoint_pck"] == four["per_keypoint_pck"]
    for key in ("mean_error", "loss"):
        assert abs(one[key] - four[key]) <= 1e-6 * abs(one[key]), key
    np.testing.assert_allclose(one["per_keypoint_error"], four["per_keypoint_error"], rtol=1e-6)
    print("OK")


if __name__ == "__main__":
    main()

"""Worker (4 emulated CPU devices): a multi-label train step and an evaluation over a padded split (histograms, AP,
mAP, loss) on 4 devices equal the 1-device results. Asserts inside; prints the numbers."""

import os
import sys

import jax
import numpy as np
import optax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax.models import create_model  # noqa: E402
from cnnjax.parallel import REPLICATED, SHARDED, DataParallel  # noqa: E402
from cnnjax.tasks import Multilabel  # noqa: E402
from cnnjax.train.evaluation import Evaluator  # noqa: E402
from cnnjax.train.state import create_train_state, state_layouts  # noqa: E402
from cnnjax.train.steps import make_eval_step, make_train_step  # noqa: E402

assert jax.device_count() == 4, jax.devices()
CLASSES, BATCH, SPLIT = 10, 16, 70  # the split: 4 full batches and one of 6 real examples and 10 of padding


def examples(rng, size: int) -> dict:
    labels = (rng.random((size, CLASSES)) < 0.3).astype(np.int32)
    images = (
        rng.normal(0, 1, (size, 32, 32, 3)).astype(np.float32) + labels[:, None, None, :3] * 0.5
    )  # 3 classes visible
    return {"image": images, "label": labels}


def padded_batches(split: dict) -> list[dict]:
    batches = []
    for start in range(0, SPLIT, BATCH):
        index = np.arange(start, start + BATCH)
        batch = {k: v[index % SPLIT] for k, v in split.items()}
        batches.append({**batch, "mask": (index < SPLIT).astype(np.float32)})
    return batches


def main():
    rng = np.random.default_rng(0)
    task = Multilabel()
    model = create_model("lenet5", num_classes=CLASSES, in_channels=3)  # no dropout, no BatchNorm
    tx = optax.sgd(0.1)  # the update is -0.1 x the gradient: a wrongly scaled gradient shows
    state = create_train_state(model, tx, (32, 32, 3), seed=0)
    batch, layouts = examples(rng, BATCH), state_layouts(per_device_batch_stats=False)
    train_step = make_train_step(model, tx, optax.constant_schedule(0.1), task)

    steps = {}
    for name, devices in (("1", jax.devices()[:1]), ("4", jax.devices())):
        dp = DataParallel(devices)
        step = dp.map(train_step, (layouts, SHARDED), (layouts, REPLICATED))
        new, metrics = dp.to_host(step(dp.put(state), dp.shard_batch(batch)))
        steps[name] = (new, {k: float(v) for k, v in metrics.items()})
        print(f"train step on {name} device(s): {steps[name][1]}")
    (reference, reference_metrics), (new, metrics) = steps["1"], steps["4"]
    assert abs(metrics["loss"] - reference_metrics["loss"]) < 1e-6
    for key in task.train_metric_names:
        assert metrics[key] == reference_metrics[key], key
    for a, b, old in zip(jax.tree.leaves(new.params), jax.tree.leaves(reference.params), jax.tree.leaves(state.params)):
        scale = max(float(np.max(np.abs(np.asarray(b) - np.asarray(old)))), 1e-12)
        assert float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / scale < 1e-3

    batches, results = padded_batches(examples(rng, SPLIT)), {}
    for name, devices in (("1", jax.devices()[:1]), ("4", jax.devices())):
        dp = DataParallel(devices)
        results[name] = Evaluator(dp, make_eval_step(model, task), REPLICATED, task)(dp.put(reference), batches)
        print(f"eval on {name} device(s): mAP {results[name]['map']:.6f} count {results[name]['count']}")
    one, four = results["1"], results["4"]
    assert one["count"] == four["count"] == SPLIT
    for key in ("histograms", "map", "per_class_ap", "exact_match", "label_accuracy"):
        assert one[key] == four[key], f"{key}: from the same summed histograms and counts"
    assert abs(one["loss"] - four["loss"]) < 1e-6
    assert sum(map(sum, one["histograms"][0])) + sum(map(sum, one["histograms"][1])) == SPLIT * CLASSES
    print("OK")


if __name__ == "__main__":
    main()

"""Cost of the in-step non-finite check (`train.nonfinite`): cnnjax's train step vs the same step without it.

    python benchmarks/nonfinite_check.py [--quick] [--model cifar_resnet20] [--batch 128] [--repeats 20]

Both columns run one device under `DataParallel`, the model's BatchNorm in train mode, SGD momentum,
state donated. 'without' is `make_train_step`'s update with the check, the masking and the gradient norm
taken out. The columns take their steps in turn; each is the minimum over `--repeats` steps.
"""

import argparse
import time

import jax
import numpy as np
import optax
from jax import lax

from cnnjax.cpu_runtime import tune_cpu_runtime
from cnnjax.models import create_model
from cnnjax.parallel import AXIS, REPLICATED, SHARDED, DataParallel
from cnnjax.tasks.classification import Classification
from cnnjax.train.state import create_train_state, state_layouts
from cnnjax.train.steps import make_train_step


def step_without_check(model, tx, task):
    def train_step(state, batch):
        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats},
                batch["image"],
                train=True,
                mutable=["batch_stats"],
            )
            return task.loss(logits, batch, {}), updates

        (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grads = lax.pmean(grads, AXIS)
        param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, param_updates),
            batch_stats=updates["batch_stats"],
            opt_state=opt_state,
        )
        return new_state, {"loss": lax.pmean(loss, AXIS)}

    return train_step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="cifar_resnet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="batch 8 (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch = 8
    tune_cpu_runtime()
    dp = DataParallel(jax.devices()[:1])
    layouts = state_layouts(per_device_batch_stats=False)
    model = create_model(args.model, num_classes=10, platform=dp.platform)
    tx = optax.sgd(0.1, momentum=0.9)
    task = Classification()
    rng = np.random.default_rng(0)
    batch = dp.shard_batch(
        {
            "image": rng.normal(size=(args.batch, 32, 32, 3)).astype(np.float32),
            "label": rng.integers(0, 10, args.batch).astype(np.int32),
        }
    )
    columns = {
        "with check": make_train_step(model, tx, optax.constant_schedule(0.1), task),
        "without": step_without_check(model, tx, task),
    }
    columns = {
        name: dp.map(step, (layouts, SHARDED), (layouts, REPLICATED), donate_argnums=(0,))
        for name, step in columns.items()
    }
    states = {name: dp.put(create_train_state(model, tx, (32, 32, 3), 0)) for name in columns}
    best = {name: float("inf") for name in columns}
    for name, step in columns.items():  # compile
        states[name], metrics = step(states[name], batch)
        jax.block_until_ready(metrics)
    for _ in range(args.repeats):
        for name, step in columns.items():
            start = time.perf_counter()
            states[name], metrics = step(states[name], batch)
            jax.block_until_ready((states[name], metrics))
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"{args.model}, batch {args.batch}, {jax.devices()[0].platform}: train step, min of {args.repeats}")
    for name, seconds in best.items():
        print(f"  {name:>10}: {seconds * 1e3:8.1f} ms")
    print(f"  check costs {100 * (best['with check'] / best['without'] - 1):+.1f} %")


if __name__ == "__main__":
    main()

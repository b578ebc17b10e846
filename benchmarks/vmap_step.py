"""K seeds in one vmapped step against K steps in turn, and the oneDNN conv under vmap against the alternative of
merging the members into oneDNN groups, side by side in one run.

    python benchmarks/vmap_step.py [--members 4] [--repeats 20]

Steps: a plain SGD train step (forward, backward, update; BatchNorm in train mode) of each model, jitted with
cnnjax's XLA:CPU options (a seed group's for the vmapped steps); 'in turn' is K times one member's step,
'vmapped' one step of K members with their own parameters, on one shared batch and on K distinct batches.
Convs (forward + both gradients, 3x3, batch 128):
one member's conv K times, K members vmapped (the oneDNN call loops over the members in place), and one conv with
K groups on the members' channels laid side by side (what a merge into groups would run, before its transposes).
Each figure is the median over `--repeats` calls.
"""

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import optax

from cnnjax.cpu_runtime import compiler_options, tune_cpu_runtime
from cnnjax.layers import conv_nd
from cnnjax.models import create_model

MODELS = (("lenet5", 64, 1), ("simple_cnn", 128, 3), ("cifar_resnet20", 128, 3))
CONVS = ((32, 16), (16, 32), (8, 64))  # (side, channels) of CIFAR ResNet's three stages


def median_seconds(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return sorted(times)[repeats // 2]


def train_step(model, variables, images, labels):
    def loss_fn(params):
        logits, updates = model.apply(
            {**variables, "params": params},
            images,
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": jax.random.key(0)},
        )
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), updates

    (_, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
    params = jax.tree.map(lambda p, g: p - 0.01 * g, variables["params"], grads)
    return {**variables, **updates, "params": params}


def step_row(name: str, batch: int, channels: int, members: int, repeats: int) -> str:
    model = create_model(name, num_classes=10, in_channels=channels, platform="cpu")
    images = jax.random.normal(jax.random.key(0), (batch, 32, 32, channels))
    labels = jnp.zeros((batch,), jnp.int32)
    init = jax.jit(lambda key: model.init(key, images[:1], train=False))
    one = init(jax.random.key(0))
    stacked = jax.jit(jax.vmap(init))(jax.random.split(jax.random.key(0), members))
    step = functools.partial(train_step, model)
    single = median_seconds(
        jax.jit(step, compiler_options=compiler_options("cpu")), one, images, labels, repeats=repeats
    )
    options = compiler_options("cpu", members=True)
    shared = jax.jit(jax.vmap(step, in_axes=(0, None, None)), compiler_options=options)
    distinct = jax.jit(jax.vmap(step), compiler_options=options)
    many_images, many_labels = jnp.stack([images] * members), jnp.stack([labels] * members)
    t_shared = median_seconds(shared, stacked, images, labels, repeats=repeats)
    t_distinct = median_seconds(distinct, stacked, many_images, many_labels, repeats=repeats)
    in_turn = members * single
    return (
        f"| {name}, batch {batch} | {in_turn * 1e3:.1f} | {t_shared * 1e3:.1f} ({in_turn / t_shared:.2f}×) | "
        f"{t_distinct * 1e3:.1f} ({in_turn / t_distinct:.2f}×) |"
    )


def conv_row(side: int, channels: int, members: int, repeats: int) -> str:
    x = jax.random.normal(jax.random.key(0), (128, side, side, channels))
    kernel = jax.random.normal(jax.random.key(1), (3, 3, channels, channels)) * 0.1

    def fwd_bwd(x, kernel, groups=1):
        def loss(x, kernel):
            return jnp.sum(conv_nd(x, kernel, padding=((1, 1), (1, 1)), groups=groups, implementation="onednn") ** 2)

        return jax.grad(loss, argnums=(0, 1))(x, kernel)

    single = median_seconds(jax.jit(fwd_bwd), x, kernel, repeats=repeats)
    xs, kernels = jnp.stack([x] * members), jnp.stack([kernel] * members)
    vmapped = median_seconds(jax.jit(jax.vmap(fwd_bwd)), xs, kernels, repeats=repeats)
    grouped_x, grouped_kernel = jnp.concatenate([x] * members, -1), jnp.concatenate([kernel] * members, -1)
    grouped = median_seconds(
        jax.jit(functools.partial(fwd_bwd, groups=members)), grouped_x, grouped_kernel, repeats=repeats
    )
    in_turn = members * single
    return (
        f"| {side}²×{channels} | {in_turn * 1e3:.1f} | {vmapped * 1e3:.1f} ({in_turn / vmapped:.2f}×) | "
        f"{grouped * 1e3:.1f} ({in_turn / grouped:.2f}×) |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    tune_cpu_runtime()
    k = args.members
    print(f"| train step (ms) | {k} in turn | vmapped, shared batch | vmapped, distinct batches |\n|---|---|---|---|")
    for name, batch, channels in MODELS:
        print(step_row(name, batch, channels, k, args.repeats), flush=True)
    print(f"\n| 3×3 conv fwd+bwd, batch 128 (ms) | {k} in turn | vmapped (oneDNN member loop) | {k} groups, one conv |")
    print("|---|---|---|---|")
    for side, channels in CONVS:
        print(conv_row(side, channels, k, args.repeats), flush=True)


if __name__ == "__main__":
    main()

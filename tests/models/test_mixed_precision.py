"""`model.dtype='bfloat16'`: compute in bf16, params and BatchNorm statistics stay float32, loss in float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.config import base_config
from cnnjax.tasks import Classification
from cnnjax.train.experiment import build_model
from cnnjax.train.optimizer import make_optimizer
from cnnjax.train.state import create_train_state
from one_step import train_one_step


def one_step(dtype: str):
    c = base_config()
    c.model.name, c.model.dtype = "cifar_resnet20", dtype
    c.model.overrides.stage_sizes, c.model.overrides.width = (1, 1, 1), 8
    model = build_model(c, num_classes=10, in_channels=3, platform="cpu")
    tx, schedule = make_optimizer(c)
    state = create_train_state(model, tx, (16, 16, 3), seed=0)
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.normal(size=(16, 16, 16, 3)).astype(np.float32),
        "label": rng.integers(0, 10, 16).astype(np.int32),
    }
    new, metrics = train_one_step(model, tx, schedule, Classification(), state, batch)
    return state, new, metrics


@pytest.fixture(scope="module")
def steps():
    return one_step("float32"), one_step("bfloat16")


def test_bf16_step_keeps_float32_state_and_is_close_to_float32(steps):
    (start, f32, f32_metrics), (_, bf16, bf16_metrics) = steps
    for tree in (bf16.params, bf16.batch_stats, bf16.opt_state):  # (opt_state also holds an int32 step count)
        floating = {leaf.dtype for leaf in jax.tree.leaves(tree) if np.issubdtype(leaf.dtype, np.floating)}
        assert floating == {np.dtype(np.float32)}
    assert bf16_metrics["loss"].dtype == np.float32 and np.isfinite(bf16_metrics["loss"])
    assert abs(bf16_metrics["loss"] - f32_metrics["loss"]) <= 2e-2 * abs(f32_metrics["loss"])
    f32_update = np.concatenate(
        [(a - b).ravel() for a, b in zip(jax.tree.leaves(f32.params), jax.tree.leaves(start.params))]
    )
    bf16_update = np.concatenate(
        [(a - b).ravel() for a, b in zip(jax.tree.leaves(bf16.params), jax.tree.leaves(start.params))]
    )
    assert np.all(np.isfinite(bf16_update))
    cosine = f32_update @ bf16_update / (np.linalg.norm(f32_update) * np.linalg.norm(bf16_update))
    assert cosine > 0.99, cosine


def test_bf16_model_computes_in_bf16():
    c = base_config()
    c.model.name, c.model.dtype = "cifar_resnet20", "bfloat16"
    c.model.overrides.stage_sizes = (1, 1, 1)
    model = build_model(c, num_classes=10, in_channels=3, platform="cpu")
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0, impl="rbg"), jnp.zeros((1, 16, 16, 3)), train=False)
    )
    logits = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((2, 16, 16, 3)), train=False), variables)
    assert logits.dtype == jnp.bfloat16
    assert {x.dtype for x in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}

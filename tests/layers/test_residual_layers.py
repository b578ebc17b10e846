"""Squeeze-and-excitation and drop-path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers.drop_path import DropPath
from cnnjax.layers.squeeze_excitation import SqueezeExcitation

KEY = jax.random.key(0, impl="rbg")


def test_squeeze_excitation_gates_channels_from_pooled_features():
    x = jax.random.normal(KEY, (2, 5, 4, 8))
    se = SqueezeExcitation(2)
    params = se.init(KEY, x)["params"]
    assert jax.tree.map(jnp.shape, params) == {
        "fc1": {"kernel": (8, 2), "bias": (2,)},
        "fc2": {"kernel": (2, 8), "bias": (8,)},
    }
    pooled = x.mean(axis=(1, 2))
    hidden = jax.nn.relu(pooled @ params["fc1"]["kernel"] + params["fc1"]["bias"])
    gate = jax.nn.sigmoid(hidden @ params["fc2"]["kernel"] + params["fc2"]["bias"])
    np.testing.assert_allclose(se.apply({"params": params}, x), x * gate[:, None, None, :], rtol=1e-5, atol=1e-6)


def test_squeeze_excitation_keeps_compute_dtype():
    x = jnp.ones((1, 3, 3, 4), jnp.bfloat16)
    se = SqueezeExcitation(1, dtype=jnp.bfloat16)
    variables = se.init(KEY, x)
    assert se.apply(variables, x).dtype == jnp.bfloat16
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))


def test_drop_path_drops_whole_examples_and_keeps_the_expectation():
    x = jnp.ones((4000, 2, 2, 3))
    y = DropPath(0.25).apply({}, x, deterministic=False, rngs={"dropout": KEY})
    per_example = np.asarray(y).reshape(4000, -1)
    assert set(np.unique(per_example)) <= {0.0, np.float32(1 / 0.75)}
    assert (per_example == per_example[:, :1]).all()  # all-or-nothing per example
    assert abs(per_example.mean() - 1.0) < 0.05
    np.testing.assert_array_equal(DropPath(0.25).apply({}, x, deterministic=True), x)


def test_drop_path_rejects_a_rate_of_one():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        DropPath(1.0).apply({}, jnp.ones((2, 3)), deterministic=False, rngs={"dropout": KEY})

"""Conv, ConvNormAct and pooling."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.layers import Conv, ConvNormAct, avg_pool, batch_norm, conv_output_size, global_avg_pool, max_pool

# rbg keys: with jax's default partitionable threefry, compiling an init takes seconds longer.
KEY = jax.random.key(0, impl="rbg")


def shapes(tree):
    return jax.tree.map(jnp.shape, tree)


@pytest.mark.parametrize("padding", ["valid", "same", "full", 1, ((2, 0), (1, 3))])
def test_conv_equals_lax_conv_with_resolved_padding(padding):
    x = jax.random.normal(KEY, (2, 9, 8, 4))
    conv = Conv(6, (3, 2), strides=2, padding=padding, dilation=(1, 2), groups=2)
    params = conv.init(KEY, x)["params"]
    assert shapes(params) == {"kernel": (3, 2, 2, 6), "bias": (6,)}
    pads = {"valid": [(0, 0)] * 2, "same": [(1, 1), (0, 1)], "full": [(2, 2), (2, 2)], 1: [(1, 1)] * 2}.get(
        padding, padding
    )
    expected = (
        lax.conv_general_dilated(
            x,
            params["kernel"],
            (2, 2),
            pads,
            rhs_dilation=(1, 2),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=2,
        )
        + params["bias"]
    )
    out = conv.apply({"params": params}, x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert out.shape[1:3] == (conv_output_size(9, 3, 2, 1, pads[0]), conv_output_size(8, 2, 2, 2, pads[1]))


def test_conv_groups_dilation_and_depthwise_shapes():
    x = jnp.zeros((1, 16, 16, 8))
    out, variables = jax.eval_shape(
        lambda: Conv(8, 3, padding="valid", dilation=3, groups=8, use_bias=False).init_with_output(KEY, x)
    )
    assert out.shape == (1, 10, 10, 8)
    assert shapes(variables["params"]) == {"kernel": (3, 3, 1, 8)}


@pytest.mark.parametrize("groups,features", [(3, 6), (2, 5)])
def test_conv_groups_must_divide_channels(groups, features):
    with pytest.raises(ValueError, match=f"groups={groups} must divide"):
        Conv(features, 3, groups=groups).init(KEY, jnp.zeros((1, 4, 4, 4)))


def test_kernel_init_is_he_fan_out_normal():
    kernel = Conv(256, 3).init(KEY, jnp.zeros((1, 3, 3, 64)))["params"]["kernel"]
    fan_out = 3 * 3 * 256
    assert abs(float(jnp.var(kernel)) * fan_out / 2 - 1) < 0.02  # 147k samples: sd of ratio ~0.004
    assert abs(float(jnp.mean(kernel))) < 1e-3
    assert float(jnp.max(jnp.abs(kernel))) > 3 * (2 / fan_out) ** 0.5  # normal, not truncated


def test_conv_dtypes():
    out, variables = jax.eval_shape(
        lambda: Conv(4, 3, dtype=jnp.bfloat16).init_with_output(KEY, jnp.zeros((1, 5, 5, 2)))
    )
    assert out.dtype == jnp.bfloat16
    assert variables["params"]["kernel"].dtype == jnp.float32


def test_conv_norm_act_with_batch_norm():
    x = jax.random.normal(KEY, (4, 6, 6, 3)) * 5 + 2
    block = ConvNormAct(8, 3, norm=batch_norm(train=True), activation=nn.relu)
    variables = jax.eval_shape(block.init, KEY, x)
    assert shapes(variables) == {
        "params": {"conv": {"kernel": (3, 3, 3, 8)}, "norm": {"scale": (8,), "bias": (8,)}},
        "batch_stats": {"norm": {"mean": (8,), "var": (8,)}},
    }

    @jax.jit
    def run(x):
        variables = block.init(KEY, x)
        out, updates = block.apply(variables, x, mutable=["batch_stats"])
        pre_act = ConvNormAct(8, 3, norm=batch_norm(train=True), activation=None).apply(
            variables, x, mutable=["batch_stats"]
        )[0]
        conv_out = Conv(8, 3, use_bias=False).apply({"params": variables["params"]["conv"]}, x)
        return out, updates, pre_act, conv_out

    out, updates, pre_act, conv_out = run(x)
    assert float(out.min()) == 0.0 and out.shape == (4, 6, 6, 8)
    np.testing.assert_allclose(pre_act.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out, nn.relu(pre_act), atol=1e-6)
    # momentum 0.9: the running mean moves a tenth of the way from 0 to the batch mean.
    np.testing.assert_allclose(
        updates["batch_stats"]["norm"]["mean"], 0.1 * conv_out.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5
    )


def test_conv_norm_act_injected_norm_and_no_norm():
    x = jnp.ones((2, 4, 4, 4))
    group_norm = functools.partial(nn.GroupNorm, num_groups=2)
    variables = jax.eval_shape(ConvNormAct(4, 1, norm=group_norm, activation=jnp.tanh).init, KEY, x)
    assert set(variables["params"]) == {"conv", "norm"}
    assert "bias" not in variables["params"]["conv"]
    variables = jax.eval_shape(ConvNormAct(4, 1, activation=None).init, KEY, x)
    assert shapes(variables["params"]) == {"conv": {"kernel": (1, 1, 4, 4), "bias": (4,)}}


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("padding", ["valid", "same", "full", 1])
def test_pooling_shapes_follow_conv_arithmetic(size, padding):
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    expected = conv_output_size(size, 3, 2, 1, padding)
    for pool in (max_pool, avg_pool):
        out = jax.eval_shape(functools.partial(pool, window=3, strides=2, padding=padding), x)
        assert out.shape == (2, expected, expected, 3)


def test_pooling_values_and_defaults():
    x = -1 - jnp.arange(16.0).reshape(1, 4, 4, 1)
    assert max_pool(x, 2).shape == (1, 2, 2, 1)  # strides default to the window
    assert float(max_pool(x, 3, strides=1, padding=1)[0, 0, 0, 0]) == -1.0  # -inf padding
    y = avg_pool(jnp.ones((1, 4, 4, 1)), 3, strides=1, padding="same")
    assert float(y[0, 0, 0, 0]) == pytest.approx(4 / 9)
    y = avg_pool(jnp.ones((1, 4, 4, 1)), 3, strides=1, padding="same", count_include_pad=False)
    assert float(y[0, 0, 0, 0]) == 1.0


def test_global_avg_pool():
    x = jnp.arange(2 * 3 * 5 * 4, dtype=jnp.float32).reshape(2, 3, 5, 4)
    np.testing.assert_allclose(global_avg_pool(x), x.mean(axis=(1, 2)))
    assert global_avg_pool(x, keepdims=True).shape == (2, 1, 1, 4)

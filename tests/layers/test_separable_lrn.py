"""Separable convolution and local response normalisation against direct references."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.layers import batch_norm
from cnnjax.layers.local_response_norm import local_response_norm
from cnnjax.layers.separable_conv import SeparableConv

KEY = jax.random.key(0, impl="rbg")


def lrn_reference(x, size, alpha, beta, k):
    """The paper's formula, one channel at a time: a_c / (k + alpha * sum_window a^2) ** beta."""
    channels = x.shape[-1]
    out = np.empty_like(x)
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels - 1, c + (size - 1) // 2)
        out[..., c] = x[..., c] / (k + alpha * np.sum(x[..., lo : hi + 1] ** 2, axis=-1)) ** beta
    return out


@pytest.mark.parametrize("size", [1, 4, 5, 7])
def test_local_response_norm_matches_formula(size):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 11)).astype(np.float32) * 4
    paper = local_response_norm(jnp.asarray(x), size, alpha=1e-2, beta=0.75, k=2.0, alpha_over_size=False)
    np.testing.assert_allclose(paper, lrn_reference(x, size, 1e-2, 0.75, 2.0), rtol=1e-5)
    torch_style = local_response_norm(jnp.asarray(x), size, alpha=1e-2, beta=0.75, k=1.0)
    np.testing.assert_allclose(torch_style, lrn_reference(x, size, 1e-2 / size, 0.75, 1.0), rtol=1e-5)


def test_local_response_norm_keeps_dtype_and_differentiates():
    x = jnp.linspace(-3, 3, 2 * 2 * 2 * 6).reshape(2, 2, 2, 6)
    assert local_response_norm(x.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    grad = jax.grad(lambda x: local_response_norm(x, alpha=0.5).sum())(x)
    assert np.all(np.isfinite(grad))
    with pytest.raises(ValueError, match="size"):
        local_response_norm(x, size=0)


def separable_reference(x, depthwise, pointwise, strides, padding, dilation):
    y = lax.conv_general_dilated(
        x,
        depthwise,
        (strides, strides),
        padding,
        rhs_dilation=(dilation, dilation),
        feature_group_count=x.shape[-1],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return jnp.einsum("nhwc,cf->nhwf", y, pointwise[0, 0])


@pytest.mark.parametrize(
    "kernel,strides,padding,lax_padding,dilation,multiplier",
    [
        (3, 1, "same", "SAME", 1, 1),
        (3, 2, 1, ((1, 1), (1, 1)), 1, 2),
        (5, 1, 4, ((4, 4), (4, 4)), 2, 1),
        (3, 2, "valid", "VALID", 1, 3),
    ],
)
def test_separable_conv_matches_depthwise_then_pointwise(kernel, strides, padding, lax_padding, dilation, multiplier):
    x = jax.random.normal(jax.random.key(1), (2, 9, 10, 4))
    layer = SeparableConv(6, kernel, strides, padding, dilation, multiplier)
    params = layer.init(KEY, x)["params"]
    assert params["depthwise"]["kernel"].shape == (kernel, kernel, 1, 4 * multiplier)
    assert params["pointwise"]["kernel"].shape == (1, 1, 4 * multiplier, 6)
    assert "bias" not in params["depthwise"] and "bias" in params["pointwise"]  # linear: one bias suffices
    expected = separable_reference(
        x, params["depthwise"]["kernel"], params["pointwise"]["kernel"], strides, lax_padding, dilation
    )
    expected = expected + params["pointwise"]["bias"]
    np.testing.assert_allclose(layer.apply({"params": params}, x), expected, rtol=1e-5, atol=1e-5)


def test_separable_conv_mobilenet_v1_block():
    """MobileNetV1's dw-BN-ReLU-pw-BN-ReLU: no conv biases, BatchNorm on both convs."""
    norm = batch_norm(train=False)
    layer = SeparableConv(8, norm=norm, activation=nn.relu, inner_norm=True, inner_activation=nn.relu)
    x = jax.random.normal(jax.random.key(2), (1, 6, 6, 4))
    variables = layer.init(KEY, x)
    shapes = jax.tree.map(jnp.shape, variables["params"])
    assert shapes == {
        "depthwise": {"kernel": (3, 3, 1, 4)},
        "depthwise_norm": {"scale": (4,), "bias": (4,)},
        "pointwise": {"kernel": (1, 1, 4, 8)},
        "pointwise_norm": {"scale": (8,), "bias": (8,)},
    }
    out = layer.apply(variables, x)
    assert out.shape == (1, 6, 6, 8) and float(out.min()) >= 0.0

    # Activation between the convs but no norm: the depthwise conv keeps its bias.
    with_bias = SeparableConv(8, inner_activation=nn.relu).init(KEY, x)["params"]
    assert "bias" in with_bias["depthwise"]


def test_separable_conv_bfloat16_compute():
    layer = SeparableConv(4, dtype=jnp.bfloat16, norm=nn.LayerNorm, activation=nn.relu)
    x = jnp.ones((1, 5, 5, 3))
    variables = layer.init(KEY, x)
    assert layer.apply(variables, x).dtype == jnp.bfloat16
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))

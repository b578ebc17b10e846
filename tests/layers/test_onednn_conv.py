"""oneDNN convs on XLA:CPU (cnnjax.native.onednn, cnnjax.layers.onednn_conv): built here, chosen by
'auto', equal to XLA's conv in every direction (test_fast_conv.py compares every case), and a clear
fallback where the extension cannot load."""

import functools
import platform

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from subprocesses import run_worker

from cnnjax.layers import ConvCall, ConvImplementationError, conv_nd, select
from cnnjax.layers.onednn_conv import onednn_conv
from cnnjax.native.onednn import bf16_supported, onednn_available, unavailable_reason

KEY = jax.random.key(0, impl="rbg")
LINUX_X86 = platform.system() == "Linux" and platform.machine() == "x86_64"


@pytest.mark.skipif(not LINUX_X86, reason="the oneDNN wheels are for Linux x86-64")
def test_extension_builds_and_loads_here():
    assert onednn_available(), unavailable_reason()


def selected(x_shape, kernel_shape, groups=1, dtype=jnp.float32, padding=((1, 1), (1, 1))):
    x, kernel = jax.ShapeDtypeStruct(x_shape, dtype), jax.ShapeDtypeStruct(kernel_shape, dtype)
    return select(ConvCall.of("forward", x, kernel, (1, 1), padding, (1, 1), groups), "cpu")


@pytest.mark.skipif(not onednn_available(), reason="oneDNN is not available here")
def test_auto_is_onednn_on_cpu_where_it_applies():
    for groups in (1, 4, 16):
        assert selected((8, 16, 16, 16), (3, 3, 16 // groups, 16), groups) == "onednn"
        # bfloat16 where the CPU runs oneDNN's bfloat16 convs (AVX-512 BF16 / AMX), else the XLA-based path
        assert (selected((8, 16, 16, 16), (3, 3, 16 // groups, 16), groups, jnp.bfloat16) == "onednn") == (
            bf16_supported()
        )
    # float16, or negative padding (a crop): the XLA-based path
    assert selected((8, 16, 16, 16), (3, 3, 1, 16), 16, jnp.float16) == "depthwise_shift"
    assert selected((8, 16, 16, 16), (3, 3, 16, 16), padding=((-1, 1), (1, 1))) == "xla"
    x = jnp.ones((8, 16, 16, 16), jnp.float16)
    with pytest.raises(ConvImplementationError, match="'onednn' cannot serve .* needs float32"):
        jax.eval_shape(lambda: conv_nd(x, x[:3, :3], padding=((1, 1),) * 2, implementation="onednn"))
    with pytest.raises(ConvImplementationError, match="padding >= 0"):
        jax.eval_shape(
            lambda: conv_nd(x.astype(jnp.float32), x[:3, :3], padding=((0, -1), (0, 0)), implementation="onednn")
        )


# Shapes where oneDNN picks its optimised (JIT) kernels, unlike test_fast_conv's small cases:
# (x NHWC, kernel HWIO, strides, padding, dilation, groups)
LARGE = [
    ((16, 32, 32, 16), (3, 3, 16, 16), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),  # CIFAR ResNet
    ((16, 32, 32, 16), (3, 3, 16, 32), (2, 2), ((0, 1), (0, 1)), (1, 1), 1),  # SAME stride 2 (flax's (0, 1))
    ((4, 56, 56, 64), (1, 1, 64, 256), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),  # bottleneck 1x1
    ((4, 64, 64, 3), (7, 7, 3, 64), (2, 2), ((3, 3), (3, 3)), (1, 1), 1),  # ImageNet stem
    ((4, 28, 28, 64), (3, 3, 64, 64), (1, 1), ((2, 2), (2, 2)), (2, 2), 1),  # DeepLab dilation
    ((8, 28, 28, 96), (3, 3, 1, 96), (2, 2), ((1, 1), (1, 1)), (1, 1), 96),  # MobileNetV2 depthwise /2
    ((4, 14, 14, 128), (3, 3, 4, 128), (1, 1), ((1, 1), (1, 1)), (1, 1), 32),  # ResNeXt 32 groups
]


@pytest.mark.skipif(not LINUX_X86, reason="the oneDNN wheels are for Linux x86-64")
def test_large_shapes_equal_xla_in_one_program():
    """All cases in one jitted program, so XLA:CPU runs independent custom calls side by side."""
    keys = jax.random.split(KEY, 3 * len(LARGE))
    args = []
    for i, (x_shape, k_shape, strides, padding, dilation, groups) in enumerate(LARGE):
        x = jax.random.normal(keys[3 * i], x_shape)
        kernel = jax.random.normal(keys[3 * i + 1], k_shape) * 0.1
        xla = functools.partial(
            conv_nd, strides=strides, padding=padding, dilation=dilation, groups=groups, implementation="xla"
        )
        y_shape = jax.eval_shape(xla, x, kernel).shape
        dy = jax.random.normal(keys[3 * i + 2], y_shape)
        args.append((x, kernel, dy))

    def all_cases(args, implementation):
        results = []
        for (x, kernel, dy), (_, _, strides, padding, dilation, groups) in zip(args, LARGE):

            def conv(x_, k_, s=strides, p=padding, d=dilation, g=groups):
                return conv_nd(x_, k_, strides=s, padding=p, dilation=d, groups=g, implementation=implementation)

            y, vjp = jax.vjp(conv, x, kernel)
            results.append((y, *vjp(dy)))
        return results

    got = jax.jit(lambda a: all_cases(a, "onednn"))(args)
    want = jax.jit(lambda a: all_cases(a, "xla"))(args)
    for case, g, w in zip(LARGE, got, want):
        for what, a, b in zip(("y", "dx", "dkernel"), g, w):
            scale = float(jnp.abs(b).max())
            assert float(jnp.abs(a - b).max()) <= 1e-5 * scale, (case, what)


# (x batched, kernel batched): seeds with their own data, seeds sharing one data stream (the first layer's x),
# one kernel over several batches
VMAPPED = [(0, 0), (None, 0), (0, None)]


@pytest.mark.skipif(not LINUX_X86, reason="the oneDNN wheels are for Linux x86-64")
@pytest.mark.parametrize("in_axes", VMAPPED)
def test_vmap_runs_each_member_in_one_call(in_axes):
    """Under vmap every direction stays one oneDNN call per conv (members looped in place, no `while`), equal to
    XLA's batched conv in values, gradients and gradients of gradients; grouped, strided and dilated."""
    members = 3
    x_shape, k_shape = (2, 9, 8, 6), (3, 3, 2, 6)
    x = jax.random.normal(KEY, (members, *x_shape) if in_axes[0] == 0 else x_shape)
    kernel = jax.random.normal(jax.random.key(1, impl="rbg"), (members, *k_shape) if in_axes[1] == 0 else k_shape)
    args = dict(strides=(2, 1), padding=((1, 1), (0, 2)), dilation=(1, 2), groups=3)

    def member(x, kernel, implementation):
        def loss(x, kernel):
            return jnp.sum(jnp.tanh(conv_nd(x, kernel, implementation=implementation, **args)))

        value, (gx, gk) = jax.value_and_grad(loss, argnums=(0, 1))(x, kernel)
        return value, gx, gk, jax.grad(lambda k: jnp.sum(jax.grad(loss)(x, k) ** 2))(kernel)

    def batched(implementation):
        return jax.jit(jax.vmap(functools.partial(member, implementation=implementation), in_axes=in_axes))

    got, want = batched("onednn")(x, kernel), batched("xla")(x, kernel)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), got, want)
    hlo = batched("onednn").lower(x, kernel).as_text()
    unbatched = jax.jit(functools.partial(member, implementation="onednn"))
    one = unbatched.lower(x[0] if in_axes[0] == 0 else x, kernel[0] if in_axes[1] == 0 else kernel).as_text()
    assert hlo.count("cnnjax_onednn_conv") == one.count("cnnjax_onednn_conv") > 0
    assert "while" not in hlo


@pytest.mark.skipif(not LINUX_X86, reason="the oneDNN wheels are for Linux x86-64")
def test_nested_vmap():
    x = jax.random.normal(KEY, (2, 3, 2, 8, 8, 4))
    kernel = jax.random.normal(KEY, (3, 3, 3, 4, 5))  # shared along the outer axis

    def convs(implementation):
        conv = functools.partial(conv_nd, padding=((1, 1), (1, 1)), implementation=implementation)
        return jax.vmap(jax.vmap(conv), in_axes=(0, None))(x, kernel)

    np.testing.assert_allclose(convs("onednn"), convs("xla"), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not LINUX_X86, reason="the oneDNN wheels are for Linux x86-64")
def test_gradients_of_gradients_stay_on_onednn():
    """Second-order terms (gradient penalties, Hessian-vector products) through every direction."""
    x = jax.random.normal(KEY, (2, 9, 8, 6))
    kernel = jax.random.normal(jax.random.key(1, impl="rbg"), (3, 3, 2, 6))
    args = dict(strides=(2, 1), padding=((1, 1), (0, 2)), dilation=(1, 2), groups=3)

    def penalty(x, kernel, implementation):
        def loss(x, kernel):
            return jnp.sum(jnp.tanh(conv_nd(x, kernel, implementation=implementation, **args)))

        gx, gk = jax.grad(loss, argnums=(0, 1))(x, kernel)
        return jnp.sum(gx**2) + jnp.sum(gk**2)

    got = jax.jit(jax.grad(penalty, argnums=(0, 1)), static_argnums=2)(x, kernel, "onednn")
    want = jax.jit(jax.grad(penalty, argnums=(0, 1)), static_argnums=2)(x, kernel, "xla")
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), got, want)
    jaxpr = str(jax.make_jaxpr(jax.grad(penalty, argnums=(0, 1)), static_argnums=2)(x, kernel, "onednn"))
    assert "conv_general_dilated" not in jaxpr


def test_mismatched_kernel_is_a_clear_error():
    with pytest.raises(ValueError, match="does not fit"):
        onednn_conv(
            jnp.ones((1, 8, 8, 4)),
            jnp.ones((3, 3, 2, 8)),
            strides=(1, 1),
            padding=((1, 1),) * 2,
            dilation=(1, 1),
            groups=1,
        )


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("CNNJAX_ONEDNN", "0")  # the worker inherits the environment
    assert "disabled ok" in run_worker("onednn_check", 1, "disabled", timeout=300)


@pytest.mark.skipif(not LINUX_X86, reason="elsewhere the platform check comes first")
def test_no_compiler_falls_back_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    monkeypatch.setenv("CNNJAX_CACHE_DIR", str(tmp_path))  # nothing built yet
    assert "no_compiler ok" in run_worker("onednn_check", 1, "no_compiler", timeout=300)

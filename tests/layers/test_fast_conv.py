"""The conv dispatch: every implementation equals XLA's conv (outputs and both gradients) over the calls
it serves, explicit implementations that cannot serve a call raise, the selection rule per platform
and dtype, and the override through the conv target."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.layers import (
    IMPLEMENTATIONS,
    Conv,
    ConvCall,
    ConvImplementationError,
    ConvTranspose,
    conv_nd,
    conv_target,
    conv_transpose,
    onednn_conv,
    select,
)
from cnnjax.layers.chunked_conv import chunked_wgrad_conv
from cnnjax.layers.conv_arithmetic import resolve_padding_nd
from cnnjax.native.onednn import onednn_available

KEY = jax.random.key(0, impl="rbg")
ROOT = pathlib.Path(__file__).resolve().parents[2]

# (x shape NHWC, kernel size, strides, dilation, padding, groups, features)
CASES = [
    ((2, 8, 8, 4), 3, 2, 1, "same", 1, 5),
    ((3, 9, 10, 3), 5, 2, 2, "valid", 1, 4),
    ((2, 6, 7, 4), 1, 2, 1, "valid", 1, 8),
    ((2, 9, 8, 4), (3, 2), (2, 1), (1, 2), ((2, 0), (1, 3)), 1, 6),
    ((2, 7, 9, 4), 3, 1, 2, "same", 2, 6),
    ((2, 9, 8, 6), 5, 2, 1, ((0, 2), (3, 1)), 3, 9),
    ((2, 8, 9, 5), 3, 1, 1, "same", 5, 5),
    ((3, 10, 9, 4), 5, 2, 2, "valid", 4, 4),
    ((2, 7, 8, 3), (3, 1), (1, 2), (2, 1), ((2, 1), (0, 2)), 3, 6),  # channel multiplier 2
    ((2, 6, 6, 4), 1, 1, 1, "valid", 4, 12),  # 1x1 depthwise, multiplier 3
    ((2, 9, 7, 3), 3, 2, 1, ((1, 1), (1, 0)), 1, 4),  # odd sizes: strided input gradient as sub-pixel conv
    ((64, 5, 6, 4), 3, (2, 1), 1, "same", 4, 8),  # depthwise weight gradient keeping only the batch axis
    ((1, 6, 5, 4), 3, 1, 1, "same", 4, 4),  # batch 1: one of the depthwise weight gradient's batch chunks is empty
]


def case_args(case):
    x_shape, k, s, d, padding, groups, features = case
    k, s, d = (tuple(v) if isinstance(v, tuple) else (v, v) for v in (k, s, d))
    pads = resolve_padding_nd(padding, x_shape[1:3], k, s, d)
    return x_shape, (*k, x_shape[-1] // groups, features), dict(strides=s, padding=pads, dilation=d, groups=groups)


def forward_call(x_shape, kernel_shape, dtype=jnp.float32, strides=None, padding=None, dilation=None, groups=1):
    ndim = len(x_shape) - 2
    x, kernel = jax.ShapeDtypeStruct(x_shape, dtype), jax.ShapeDtypeStruct(kernel_shape, dtype)
    padding = ((1, 1),) * ndim if padding is None else padding
    return ConvCall.of("forward", x, kernel, strides or (1,) * ndim, padding, dilation or (1,) * ndim, groups)


def serving(call):
    return [name for name, impl in IMPLEMENTATIONS.items() if name != "xla" and impl.why_not(call) is None]


def value_and_grads(implementation, x, kernel, dy, kwargs):
    y, vjp = jax.vjp(lambda x_, k_: conv_nd(x_, k_, implementation=implementation, **kwargs), x, kernel)
    return (y, *vjp(dy))


@pytest.mark.parametrize(
    ("case", "dtype"),
    [(case, jnp.float32) for case in CASES] + [(CASES[i], jnp.bfloat16) for i in (0, 2, 5, 8)],
    ids=[f"{i}-f32" for i in range(len(CASES))] + [f"{i}-bf16" for i in (0, 2, 5, 8)],
)
def test_implementations_equal_xla(case, dtype):
    x_shape, kernel_shape, kwargs = case_args(case)
    names = ["xla", *serving(forward_call(x_shape, kernel_shape, dtype, **kwargs))]
    kx, kk, ky = jax.random.split(KEY, 3)
    x = jax.random.normal(kx, x_shape).astype(dtype)
    kernel = jax.random.normal(kk, kernel_shape).astype(dtype)
    expected = lax.conv_general_dilated(
        x,
        kernel,
        kwargs["strides"],
        kwargs["padding"],
        rhs_dilation=kwargs["dilation"],
        feature_group_count=kwargs["groups"],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    dy = jax.random.normal(ky, expected.shape).astype(dtype)
    results = jax.jit(lambda x, kernel, dy: [value_and_grads(name, x, kernel, dy, kwargs) for name in names])(
        x, kernel, dy
    )
    reference, *others = results
    np.testing.assert_allclose(reference[0].astype(jnp.float32), expected.astype(jnp.float32), rtol=1e-5, atol=1e-5)
    tol = 1e-5 if dtype == jnp.float32 else 2e-2
    for name, result in zip(names[1:], others):
        for got, want, what in zip(result, reference, ("y", "dx", "dkernel")):
            assert got.dtype == want.dtype and got.shape == want.shape, (name, what)
            scale = float(jnp.abs(want.astype(jnp.float32)).max())
            err = float(jnp.abs(got.astype(jnp.float32) - want.astype(jnp.float32)).max())
            assert err <= tol * scale, (name, what, err, scale)


@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_chunked_weight_gradient_with_uneven_chunks(strides):
    x = jax.random.normal(KEY, (7, 6, 7, 3))
    kernel = jax.random.normal(KEY, (3, 3, 3, 4))
    padding, dilation = ((1, 1), (1, 1)), (1, 1)
    dy = jax.random.normal(KEY, conv_nd(x, kernel, strides=strides, padding=padding, implementation="xla").shape)
    chunked = jax.vjp(lambda x_, k: chunked_wgrad_conv(x_, k, strides, padding, dilation, 3), x, kernel)[1](dy)
    xla = jax.vjp(lambda x_, k: conv_nd(x_, k, strides=strides, padding=padding, implementation="xla"), x, kernel)[1](
        dy
    )
    for got, want in zip(chunked, xla):  # 7 images in chunks of 2, 2 and 3
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


X1, K1 = jnp.ones((2, 9, 4)), jnp.ones((3, 4, 4))
X2, K2 = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 4))
X3, K3 = jnp.ones((1, 4, 5, 6, 2)), jnp.ones((3, 3, 3, 2, 2))


@pytest.mark.parametrize(
    ("implementation", "conv", "reason"),
    [
        ("onednn", lambda impl: conv_nd(X1, K1, padding=((1, 1),), implementation=impl), "serves 2-D convs only"),
        ("onednn", lambda impl: conv_nd(X3, K3, implementation=impl), "serves 2-D convs only"),
        ("onednn", lambda impl: conv_transpose(X1, K1, strides=2, implementation=impl), "serves 2-D convs only"),
        (
            "onednn",
            lambda impl: conv_transpose(X2, K2, strides=1, dilation=2, output_padding=1, implementation=impl),
            "output_padding <=",
        ),
        ("depthwise_shift", lambda impl: conv_nd(X2, K2, implementation=impl), "groups == C_in"),
        ("depthwise_shift", lambda impl: conv_transpose(X2, K2, strides=2, implementation=impl), "forward convs only"),
        ("grouped_split", lambda impl: conv_nd(X2, K2, implementation=impl), "groups > 1"),
        ("grouped_split", lambda impl: conv_nd(X3, K3[..., :1, :], groups=2, implementation=impl), "2-D convs only"),
        ("chunked_wgrad", lambda impl: conv_nd(X2, K2[..., :2, :], groups=2, implementation=impl), "groups == 1"),
        ("chunked_wgrad", lambda impl: conv_nd(X2, K2, padding=((-1, 0), (0, 0)), implementation=impl), "padding >="),
        ("subpixel", lambda impl: conv_nd(X2, K2, implementation=impl), "transposed convs only"),
        ("subpixel", lambda impl: conv_transpose(X2, K2, strides=2, dilation=2, implementation=impl), "dilation 1"),
    ],
)
def test_explicit_implementation_that_cannot_serve_raises(implementation, conv, reason):
    """The layer's own implementation and the conv target's alike, naming the implementation and the call."""
    with pytest.raises(ConvImplementationError, match=rf"'{implementation}' cannot serve the .* conv of x .*{reason}"):
        jax.eval_shape(lambda: conv(implementation))
    with conv_target("cpu", implementation), pytest.raises(ConvImplementationError, match="the conv target's"):
        jax.eval_shape(lambda: conv("auto"))


def test_explicit_onednn_on_another_platform_and_unknown_names_raise():
    with conv_target("cuda"), pytest.raises(ConvImplementationError, match="XLA:CPU only"):
        jax.eval_shape(lambda: conv_nd(X2, K2, implementation="onednn"))
    with pytest.raises(ValueError, match="XLA:CPU only"):
        with conv_target("tpu", "onednn"):
            pass
    with pytest.raises(ValueError, match="unknown conv implementation 'winograd'"):
        conv_nd(X2, K2, implementation="winograd")
    with pytest.raises(ValueError, match="unknown conv implementation 'depth_to_space'"):
        with conv_target("cpu", "depth_to_space"):
            pass


def test_conv_module_raises_on_one_and_three_dimensional_inputs_for_onednn():
    for x in (X1, X3):
        with pytest.raises(ConvImplementationError, match="'onednn' cannot serve the forward"):
            jax.eval_shape(Conv(4, 3, implementation="onednn").init, KEY, x)


# (call, what the XLA-based CPU rule picks)
CPU_RULE = [
    (forward_call((32, 56, 56, 144), (3, 3, 1, 144), groups=144), "depthwise_shift"),
    (forward_call((32, 28, 28, 256), (3, 3, 8, 256), groups=32), "grouped_split"),
    (forward_call((128, 16, 16, 32), (3, 3, 32, 32)), "chunked_wgrad"),
    (forward_call((32, 7, 7, 512), (3, 3, 512, 512)), "xla"),  # small map
    (forward_call((32, 28, 28, 512), (3, 3, 512, 512)), "xla"),  # many weights
    (forward_call((8, 32, 32, 16), (3, 3, 16, 16)), "xla"),  # small batch
    (forward_call((32, 56, 56, 64), (3, 3, 64, 64)), "xla"),  # chunks of 4 images
    (forward_call((16, 56, 56, 128), (3, 3, 128, 128), strides=(2, 2)), "chunked_wgrad"),  # sub-pixel input grad
    (forward_call((16, 224, 224, 3), (7, 7, 3, 64), strides=(2, 2)), "xla"),  # kernel over two strides
    (forward_call((2, 7, 7, 2048), (1, 1, 2048, 512), strides=(2, 2), padding=((0, 0),) * 2), "chunked_wgrad"),
    (forward_call((2, 8, 8, 4), (3, 3, 2, 4), padding=((-1, 0), (0, 0)), groups=2), "grouped_split"),
    (forward_call((2, 9, 4), (3, 2, 4), groups=2), "xla"),  # 1-D
    (forward_call((1, 4, 4, 4, 4), (3, 3, 3, 4, 4), groups=4), "xla"),  # 3-D
    (ConvCall.of("transposed", X2, K2, (2, 2), ((1, 1),) * 2, (1, 1), output_padding=(1, 1)), "subpixel"),
    (ConvCall.of("transposed", X2, K2, (2, 2), ((0, 0),) * 2, (1, 1), output_padding=(1, 1)), "subpixel"),
    (ConvCall.of("transposed", X2, K2, (1, 1), ((1, 1),) * 2, (1, 1)), "xla"),  # an ordinary conv
    (ConvCall.of("transposed", X2, K2, (2, 2), ((1, 1),) * 2, (2, 2)), "xla"),  # dilated
]


@pytest.mark.parametrize(("call", "expected"), CPU_RULE)
def test_selection_rule_on_cpu_without_and_with_onednn(call, expected, monkeypatch):
    onednn = onednn_conv.ONEDNN.why_not(call) is None
    assert select(call, "cpu") == ("onednn" if onednn else expected)
    monkeypatch.setattr(onednn_conv, "onednn_available", lambda: False)  # as CNNJAX_ONEDNN=0
    assert select(call, "cpu") == expected


@pytest.mark.parametrize("platform", ["gpu", "tpu", "cuda", "rocm", None])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_selection_elsewhere_is_xla(platform, dtype):
    """A GPU/TPU target, or none, never gets oneDNN or a CPU fast path."""
    for call, _ in CPU_RULE:
        assert select(call._replace(dtype=jnp.dtype(dtype), kernel_dtype=jnp.dtype(dtype)), platform) == "xla"


@pytest.mark.skipif(not onednn_available(), reason="oneDNN is not available here")
def test_selection_on_cpu_is_keyed_by_dtype():
    call = forward_call((2, 8, 8, 4), (3, 3, 4, 4))
    assert select(call._replace(dtype=jnp.dtype(jnp.float16), kernel_dtype=jnp.dtype(jnp.float16)), "cpu") == "xla"
    assert select(call, "cpu") == "onednn"


def jaxpr(module, x) -> str:
    return str(jax.make_jaxpr(lambda x: module.init_with_output(KEY, x))(x))


def test_the_target_reaches_every_conv_and_the_layer_wins():
    depthwise, transposed = Conv(4, 3, groups=4), ConvTranspose(4, 2, 2)
    with conv_target("cpu"):  # oneDNN, or shifted multiply-adds and sub-pixel matmuls
        assert jaxpr(depthwise, X2).count("conv_general_dilated") == 0
        assert "conv_general_dilated" not in jaxpr(transposed, X2)
    with conv_target("cpu", "xla"):
        assert jaxpr(depthwise, X2).count("conv_general_dilated") == 1
        assert "conv_general_dilated" in jaxpr(transposed, X2)
        assert jaxpr(depthwise.clone(implementation="depthwise_shift"), X2).count("conv_general_dilated") == 0
        assert "conv_general_dilated" not in jaxpr(transposed.clone(implementation="subpixel"), X2)
    with conv_target("gpu", "subpixel"):
        assert "conv_general_dilated" not in jaxpr(transposed, X2)
    with conv_target(None, "onednn"), pytest.raises(ConvImplementationError, match="serves 2-D convs only"):
        jaxpr(Conv(4, 3), X3)  # the target reaches 3-D convs too


@pytest.mark.parametrize(
    ("groups", "implementations"),
    [(1, ["auto", "xla", "chunked_wgrad"]), (2, ["auto", "xla", "grouped_split"]), (4, ["depthwise_shift"])],
)
def test_conv_module_same_params_and_outputs_for_every_implementation(groups, implementations):
    implementations = implementations + (["onednn"] if onednn_available() else [])
    x = jax.random.normal(KEY, (2, 9, 8, 4))
    results = [
        Conv(8, 3, strides=2, padding=1, groups=groups, implementation=impl).init_with_output(KEY, x)
        for impl in ["xla", *implementations]
    ]
    (y0, params0), *others = results
    assert jax.tree.map(jnp.shape, params0) == {"params": {"kernel": (3, 3, 4 // groups, 8), "bias": (8,)}}
    for y, params in others:
        jax.tree.map(np.testing.assert_array_equal, params, params0)
        np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-5)


def test_conv_module_one_and_three_dimensional_inputs_equal_lax():
    for shape, kernel in [((2, 9, 4), (3,)), ((1, 5, 6, 7, 2), (3, 3, 3))]:
        x = jax.random.normal(KEY, shape)
        y, variables = Conv(4, kernel, groups=2).init_with_output(KEY, x)
        spatial = "HWD"[: len(kernel)]
        expected = lax.conv_general_dilated(
            x,
            variables["params"]["kernel"],
            (1,) * len(kernel),
            "SAME",
            feature_group_count=2,
            dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
        )
        np.testing.assert_allclose(y, expected + variables["params"]["bias"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("conv_paths", ("--no-torch",), ("| depthwise 3x3 | 2x8x8x8->8 | ", "depthwise_shift", "auto/xla")),
        ("models", ("--no-torch",), ("cifar_resnet20", "auto s")),
        ("nonfinite_check", ("--model", "cifar_resnet20"), ("with check", "check costs")),
    ],
)
def test_benchmark_quick_runs(script, args, expected, capsys):
    spec = importlib.util.spec_from_file_location(f"{script}_benchmark", ROOT / "benchmarks" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick", "--repeats", "1", *args])
    out = capsys.readouterr().out
    assert all(text in out for text in expected), out

"""Fast conv implementations: equal to XLA's conv (outputs and both gradients), auto dispatch, Conv."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.layers import Conv, conv2d, conv_target, resolve_implementation, select_implementation
from cnnjax.layers.chunked_conv import chunked_wgrad_conv
from cnnjax.layers.conv_arithmetic import resolve_padding_nd
from cnnjax.layers.conv_dispatch import WGRAD_CHUNKS, select_xla_path, weight_gradient_chunks
from cnnjax.layers.depthwise_conv import KEEP_BATCH_ONLY_FROM
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


def test_cases_cover_both_depthwise_weight_gradient_reductions():
    batches = [case[0][0] for case in CASES if case[5] == case[0][-1]]
    assert min(batches) < KEEP_BATCH_ONLY_FROM <= max(batches)


def valid_implementations(groups, in_channels):
    names = ["chunked_wgrad"] if groups == 1 else ["grouped_split"]
    return names + (["depthwise_shift"] if groups == in_channels else []) + (["onednn"] if onednn_available() else [])


def case_args(case):
    x_shape, k, s, d, padding, groups, features = case
    k, s, d = (tuple(v) if isinstance(v, tuple) else (v, v) for v in (k, s, d))
    pads = resolve_padding_nd(padding, x_shape[1:3], k, s, d)
    return x_shape, (*k, x_shape[-1] // groups, features), dict(strides=s, padding=pads, dilation=d, groups=groups)


def value_and_grads(implementation, x, kernel, dy, kwargs):
    y, vjp = jax.vjp(lambda x_, k_: conv2d(x_, k_, implementation=implementation, **kwargs), x, kernel)
    return (y, *vjp(dy))


@pytest.mark.parametrize(
    ("case", "dtype"),
    [(case, jnp.float32) for case in CASES] + [(CASES[i], jnp.bfloat16) for i in (0, 2, 5, 8)],
    ids=[f"{i}-f32" for i in range(len(CASES))] + [f"{i}-bf16" for i in (0, 2, 5, 8)],
)
def test_implementations_equal_xla(case, dtype):
    x_shape, kernel_shape, kwargs = case_args(case)
    names = ["xla", *valid_implementations(kwargs["groups"], x_shape[-1])]
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
    dy = jax.random.normal(KEY, conv2d(x, kernel, strides=strides, padding=padding, implementation="xla").shape)
    chunked = jax.vjp(lambda x_, k: chunked_wgrad_conv(x_, k, strides, padding, dilation, 3), x, kernel)[1](dy)
    xla = jax.vjp(lambda x_, k: conv2d(x_, k, strides=strides, padding=padding, implementation="xla"), x, kernel)[1](dy)
    for got, want in zip(chunked, xla):  # 7 images in chunks of 2, 2 and 3
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("implementation", "groups", "in_channels"),
    [("chunked_wgrad", 2, 4), ("depthwise_shift", 2, 4), ("depthwise_shift", 1, 4), ("grouped_split", 1, 4)],
)
def test_inapplicable_implementation_raises(implementation, groups, in_channels):
    with pytest.raises(ValueError, match=implementation):
        resolve_implementation(
            implementation,
            (2, 8, 8, in_channels),
            (3, 3, in_channels // groups, 4),
            strides=(1, 1),
            groups=groups,
            platform="cpu",
        )


def test_unknown_implementation_raises():
    with pytest.raises(ValueError, match="unknown conv implementation"):
        conv2d(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 2)), implementation="winograd")
    with pytest.raises(ValueError, match="unknown conv target implementation"):
        with conv_target("cpu", "fast"):
            pass


def select(x_shape, kernel_shape, strides=1, groups=1, platform="cpu"):
    if platform == "cpu":  # the XLA-based CPU paths; tests/layers/test_onednn_conv.py checks that oneDNN comes first
        return select_xla_path(x_shape, kernel_shape, strides=(strides, strides), groups=groups)
    return select_implementation(x_shape, kernel_shape, strides=(strides, strides), groups=groups, platform=platform)


def test_xla_path_selection_on_cpu():
    assert select((32, 56, 56, 144), (3, 3, 1, 144), groups=144) == "depthwise_shift"
    assert select((32, 28, 28, 256), (3, 3, 8, 256), groups=32) == "grouped_split"
    assert select((128, 16, 16, 32), (3, 3, 32, 32)) == "chunked_wgrad"
    assert select((128, 32, 32, 16), (3, 3, 16, 16)) == "chunked_wgrad"
    assert select((32, 7, 7, 512), (3, 3, 512, 512)) == "xla"  # small map
    assert select((32, 28, 28, 512), (3, 3, 512, 512)) == "xla"  # many weights
    assert select((8, 32, 32, 16), (3, 3, 16, 16)) == "xla"  # small batch
    assert select((32, 56, 56, 64), (3, 3, 64, 64)) == "xla"  # chunks of 4 images: slower than one conv
    assert select((16, 56, 56, 128), (3, 3, 128, 128), strides=2) == "chunked_wgrad"  # sub-pixel input gradient
    assert select((16, 224, 224, 3), (7, 7, 3, 64), strides=2) == "xla"  # kernel over two strides
    assert weight_gradient_chunks((128, 32, 32, 16), (3, 3, 16, 16), (1, 1)) == WGRAD_CHUNKS
    assert weight_gradient_chunks((16, 56, 56, 128), (3, 3, 128, 128), (2, 2)) == 1
    assert select((2, 7, 7, 2048), (1, 1, 2048, 512), strides=2) == "chunked_wgrad"  # 1x1: dot weight gradient


@pytest.mark.parametrize("platform", ["gpu", "tpu", "cuda", "rocm", None])
@pytest.mark.parametrize("groups", [1, 4, 144])
def test_auto_selection_elsewhere_is_xla(platform, groups):
    assert select((32, 56, 56, 144), (3, 3, 144 // groups, 144), groups=groups, platform=platform) == "xla"


def conv_jaxpr(**conv_args) -> str:
    return str(
        jax.make_jaxpr(lambda x: Conv(16, 3, groups=16, **conv_args).init_with_output(KEY, x))(jnp.ones((1, 6, 6, 16)))
    )


def test_target_xla_overrides_auto_only():
    auto = "onednn" if onednn_available() else "depthwise_shift"
    assert (
        resolve_implementation("auto", (2, 8, 8, 16), (3, 3, 1, 16), strides=(1, 1), groups=16, platform="cpu") == auto
    )
    with conv_target("cpu"):
        assert conv_jaxpr().count("conv_general_dilated") == 0  # oneDNN or shifted multiply-adds
    with conv_target("cpu", "xla"):
        assert conv_jaxpr().count("conv_general_dilated") == 1
        assert conv_jaxpr(implementation="depthwise_shift").count("conv_general_dilated") == 0


@pytest.mark.parametrize(
    ("groups", "implementations"),
    [
        (1, ["auto", "xla", "chunked_wgrad"]),
        (2, ["auto", "xla", "grouped_split"]),
        (4, ["auto", "xla", "depthwise_shift", "grouped_split"]),
    ],
)
def test_conv_module_same_params_and_outputs_for_every_implementation(groups, implementations):
    implementations = implementations + (["onednn"] if onednn_available() else [])
    x = jax.random.normal(KEY, (2, 9, 8, 4))
    results = [
        Conv(8, 3, strides=2, padding=1, groups=groups, implementation=impl).init_with_output(KEY, x)
        for impl in implementations
    ]
    (y0, params0), *others = results
    assert jax.tree.map(jnp.shape, params0) == {"params": {"kernel": (3, 3, 4 // groups, 8), "bias": (8,)}}
    for y, params in others:
        jax.tree.map(np.testing.assert_array_equal, params, params0)
        np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-5)


def test_conv_module_one_and_three_dimensional_inputs_use_xla():
    for shape, kernel in [((2, 9, 4), (3,)), ((1, 5, 6, 7, 2), (3, 3, 3))]:
        x = jax.random.normal(KEY, shape)
        y, variables = Conv(4, kernel, groups=2, implementation="grouped_split").init_with_output(KEY, x)
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
        ("conv_paths", ("--no-torch",), ("depthwise", "grouped", "xla ms")),
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

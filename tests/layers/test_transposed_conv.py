"""Transposed conv (output-size rule, every implementation vs lax.conv_transpose and vs the VJP of a
forward conv, values and gradients), upsampling vs NumPy references, and the benchmark's smoke run."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.layers import (
    ConvTranspose,
    UpsampleConv,
    conv_transpose,
    resize_bilinear,
    transposed_conv_output_size,
    upsample_nearest,
)
from cnnjax.layers.conv import Conv
from cnnjax.native.onednn import bf16_supported, onednn_available

# size, kernel, stride, padding, output_padding, dilation -> PyTorch's output size
SIZE_CASES = [
    ((16, 2, 2, 0, 0, 1), 32),
    ((7, 2, 2, 0, 0, 1), 14),
    ((16, 4, 2, 1, 0, 1), 32),
    ((16, 3, 2, 1, 1, 1), 32),
    ((16, 3, 2, 1, 0, 1), 31),
    ((5, 5, 2, 0, 0, 1), 13),
    ((5, 7, 3, 2, 2, 1), 17),
    ((4, 3, 1, 1, 0, 1), 4),
    ((4, 3, 1, 0, 0, 2), 8),
    ((4, 3, 1, 0, 1, 2), 9),
    ((1, 1, 1, 0, 0, 1), 1),
]


@pytest.mark.parametrize(("args", "expected"), SIZE_CASES)
def test_output_size_rule(args, expected):
    assert transposed_conv_output_size(*args) == expected


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((8, 2, 2, 0, 2), "output_padding"),
        ((8, 3, 1, 0, 1), "output_padding"),
        ((1, 1, 2, 1, 0), "< 1"),
        ((2, 3, 1, 3, 0), "< 1"),
        ((0, 3, 2, 0, 0), "size"),
        ((4, 3, 0, 0, 0), "stride"),
        ((4, 3, 2, -1, 0), "non-negative"),
    ],
)
def test_output_size_errors(args, match):
    with pytest.raises(ValueError, match=match):
        transposed_conv_output_size(*args)


def _reference(x, kernel, s, p, op, d=1):
    """(lax.conv_transpose with the documented convention, VJP of the forward conv w.r.t. its input)."""
    k = kernel.shape[0]
    pad = d * (k - 1) - p
    direct = lax.conv_transpose(
        x,
        kernel,
        (s, s),
        ((pad, pad + op),) * 2,
        rhs_dilation=(d, d),
        dimension_numbers=("NHWC", "HWOI", "NHWC"),
        transpose_kernel=True,
    )
    out_hw = [transposed_conv_output_size(n, k, s, p, op, d) for n in x.shape[1:3]]
    y = jnp.zeros((x.shape[0], *out_hw, kernel.shape[-1]), x.dtype)

    def forward(y):  # kernel.transpose(0, 1, 3, 2): HWIO from C_out to C_in; x's size back (also for op >= s)
        dn = ("NHWC", "HWIO", "NHWC")
        pads = ((p, p - op),) * 2
        return lax.conv_general_dilated(y, kernel.transpose(0, 1, 3, 2), (s, s), pads, (1, 1), (d, d), dn)

    return direct, jax.vjp(forward, y)[1](x)[0]


# kernel, stride, padding, output_padding, dilation
GEOMETRIES = [
    (2, 2, 0, 0, 1),
    (3, 3, 0, 0, 1),
    (2, 2, 1, 1, 1),
    (1, 2, 0, 1, 1),
    (3, 2, 1, 1, 1),
    (4, 2, 1, 0, 1),
    (5, 2, 0, 0, 1),
    (7, 3, 2, 1, 1),
    (3, 1, 1, 0, 1),
    (3, 2, 1, 1, 2),
    (3, 1, 1, 1, 2),  # output_padding = stride (dilation 2): oneDNN's conv pads (1, 0)
    (3, 1, 0, 1, 2),  # output_padding > padding + stride - 1: 'auto' takes the XLA-based path
]


def _implementations(k, s, p, op, d):
    onednn = ["onednn"] if onednn_available() and op <= p + s - 1 else []
    if d != 1:
        return ["xla", "auto", *onednn]
    return ["xla", "subpixel", "auto", *onednn]


@pytest.mark.parametrize(("k", "s", "p", "op", "d"), GEOMETRIES)
def test_all_implementations_match_conv_transpose_and_vjp(k, s, p, op, d):
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    x = jnp.asarray(rng.normal(size=(2, 5, 6, 3)), jnp.float32)  # odd and even sizes
    kernel = jnp.asarray(rng.normal(size=(k, k, 3, 4)), jnp.float32)
    out_hw = [transposed_conv_output_size(n, k, s, p, op, d) for n in x.shape[1:3]]
    cotangent = jnp.asarray(rng.normal(size=(2, *out_hw, 4)), jnp.float32)
    functions = {"vjp": lambda x, kernel: _reference(x, kernel, s, p, op, d)[1]}
    for implementation in _implementations(k, s, p, op, d):
        module = ConvTranspose(4, k, s, p, op, d, use_bias=False, implementation=implementation)
        functions[implementation] = lambda x, kernel, module=module: module.apply({"params": {"kernel": kernel}}, x)

    @jax.jit  # one compiled program per geometry: outputs and (input, kernel) gradients of each
    def run(x, kernel, cotangent):
        results = {}
        for name, fn in functions.items():
            out, pullback = jax.vjp(fn, x, kernel)
            results[name] = out, pullback(cotangent)
        return _reference(x, kernel, s, p, op, d)[0], results

    direct, results = run(x, kernel, cotangent)
    ref_out, ref_grads = results.pop("vjp")
    np.testing.assert_allclose(ref_out, direct, rtol=1e-5, atol=1e-5)
    for implementation, (out, grads) in results.items():
        np.testing.assert_allclose(out, direct, rtol=1e-5, atol=1e-5, err_msg=implementation)
        for grad, ref in zip(grads, ref_grads):
            np.testing.assert_allclose(grad, ref, rtol=1e-4, atol=1e-4, err_msg=implementation)


def _numpy_params(module, x):
    """Random params of ``module`` without ``init``: XLA:CPU takes ~2 s to compile JAX's random bits."""
    shapes = jax.eval_shape(module.init, jax.random.key(0), x)
    rng = np.random.default_rng(0)
    return jax.tree.map(lambda leaf: jnp.asarray(0.3 * rng.normal(size=leaf.shape), leaf.dtype), shapes)


def test_bf16():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 7, 5, 8)), jnp.float32)
    cases = {"subpixel k2": ("subpixel", 2, 0), "subpixel k4": ("subpixel", 4, 1), "xla": ("xla", 3, 1)}
    if onednn_available() and bf16_supported():
        cases["onednn"] = ("onednn", 3, 1)
    modules = {
        name: ConvTranspose(6, k, 2, p, dtype=jnp.bfloat16, implementation=impl) for name, (impl, k, p) in cases.items()
    }
    params = {name: _numpy_params(module, x) for name, module in modules.items()}

    @jax.jit
    def run(params, x):
        results = {}
        for name, module in modules.items():
            y, pullback = jax.vjp(lambda x, module=module, p=params[name]: module.apply(p, x), x.astype(jnp.bfloat16))
            ref = module.clone(dtype=None, implementation="xla").apply(params[name], x)
            results[name] = y, pullback(jnp.ones_like(y))[0], ref
        return results

    for name, (y, grad, ref) in run(params, x).items():
        assert y.dtype == jnp.bfloat16 and grad.dtype == jnp.bfloat16 and grad.shape == x.shape, name
        atol = 0.05 * float(jnp.abs(ref).max())
        np.testing.assert_allclose(y.astype(jnp.float32), ref, rtol=0.05, atol=atol, err_msg=name)


def test_module_params_init_and_promotion():
    x = jnp.ones((1, 4, 4, 16), jnp.bfloat16)
    module = ConvTranspose(64, (4, 2), 2, padding=(1, 0))
    params = jax.jit(module.init)(jax.random.key(0), x)["params"]
    assert params["kernel"].shape == (4, 2, 16, 64) and params["bias"].shape == (64,)
    y = jax.eval_shape(module.apply, {"params": params}, x)
    assert y.dtype == jnp.float32 and y.shape == (1, 8, 8, 64)  # promoted as nn.Conv
    std = float(jnp.std(params["kernel"]))
    assert abs(std / np.sqrt(2 / (4 * 2 * 64)) - 1) < 0.1  # He fan-out
    assert "bias" not in jax.eval_shape(ConvTranspose(8, 2, 2, use_bias=False).init, jax.random.key(0), x)["params"]


def test_torch_weights_port_with_permute():
    torch = pytest.importorskip("torch")
    layer = torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
    with torch.no_grad():
        expected = layer(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    params = {"kernel": layer.weight.detach().permute(2, 3, 0, 1).numpy(), "bias": layer.bias.detach().numpy()}
    for implementation in ("xla", "subpixel", "auto"):
        y = ConvTranspose(4, 3, 2, 1, 1, implementation=implementation).apply({"params": params}, x)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_invalid_arguments_raise():
    x, kernel = jnp.ones((1, 4, 4, 2)), jnp.ones((4, 4, 2, 3))
    with pytest.raises(ValueError, match="unknown conv implementation"):
        conv_transpose(x, kernel, strides=2, implementation="cudnn")
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose(x, kernel, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="one int per spatial dimension"):
        conv_transpose(x, kernel, strides=2, padding=((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="kernel"):
        conv_transpose(x, kernel[..., :1, :], strides=2)


@pytest.mark.parametrize("ndim", [1, 3])
def test_one_and_three_dimensional_equal_the_vjp_of_a_forward_conv(ndim):
    rng = np.random.default_rng(ndim)
    x = jnp.asarray(rng.normal(size=(2, *(4,) * ndim, 3)), jnp.float32)
    module = ConvTranspose(2, 3, 2, padding=1, output_padding=1, use_bias=False)
    params = _numpy_params(module, x)
    y = module.apply(params, x)
    assert y.shape == (2, *(8,) * ndim, 2)
    kernel = params["params"]["kernel"]
    spatial = "HWD"[:ndim]
    dn = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")

    def forward(y_):
        return lax.conv_general_dilated(
            y_, jnp.swapaxes(kernel, -1, -2), (2,) * ndim, ((1, 0),) * ndim, dimension_numbers=dn
        )

    np.testing.assert_allclose(y, jax.vjp(forward, jnp.zeros_like(y))[1](x)[0], rtol=1e-5, atol=1e-5)


def test_upsample_nearest():
    x = np.arange(2 * 3 * 5 * 2, dtype=np.float32).reshape(2, 3, 5, 2)
    np.testing.assert_array_equal(upsample_nearest(x, (2, 3)), x.repeat(2, axis=1).repeat(3, axis=2))
    np.testing.assert_array_equal(upsample_nearest(x, 2), x.repeat(2, axis=1).repeat(2, axis=2))
    jaxpr = str(jax.make_jaxpr(lambda x: upsample_nearest(x, 2))(x))
    assert "gather" not in jaxpr


def _bilinear_numpy(image, out_h, out_w, align_corners):
    """PyTorch's upsample_bilinear2d, one output pixel at a time."""
    in_h, in_w = image.shape

    def source(o, n_in, n_out):
        if align_corners:
            return o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return max((o + 0.5) * n_in / n_out - 0.5, 0.0)  # half-pixel centres, clamped at 0

    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        y = source(i, in_h, out_h)
        y0 = int(y)
        y1, ly = min(y0 + 1, in_h - 1), y - y0
        for j in range(out_w):
            x = source(j, in_w, out_w)
            x0 = int(x)
            x1, lx = min(x0 + 1, in_w - 1), x - x0
            top = (1 - lx) * image[y0, x0] + lx * image[y0, x1]
            bottom = (1 - lx) * image[y1, x0] + lx * image[y1, x1]
            out[i, j] = (1 - ly) * top + ly * bottom
    return out


def test_resize_bilinear_known_values():
    x = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
    expected = [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]]
    np.testing.assert_allclose(resize_bilinear(x, (4, 4))[0, ..., 0], expected, rtol=1e-6)
    third = 1 / 3
    expected = [[1, 1 + third, 2 - third, 2], [2 - third, 2, 2 + third, 3 - third]]
    np.testing.assert_allclose(resize_bilinear(x, (4, 4), align_corners=True)[0, :2, :, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(resize_bilinear(x, (1, 1))[0, ..., 0], [[2.5]])  # centre of the 2x2


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(13, 3), (3, 5), (1, 1), (5, 7), (16, 14)])
def test_resize_bilinear_matches_numpy(size, align_corners):
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype(np.float32)
    y = np.asarray(resize_bilinear(jnp.asarray(x), size, align_corners))
    assert y.shape == (2, *size, 3)
    expected = _bilinear_numpy(x[1, :, :, 2], *size, align_corners)
    np.testing.assert_allclose(y[1, :, :, 2], expected, rtol=1e-5, atol=1e-5)


def test_upsample_conv_is_upsample_then_conv():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 4, 5, 3)), jnp.float32)
    modules = {method: UpsampleConv(6, method=method) for method in ("nearest", "bilinear")}
    params = _numpy_params(modules["nearest"], x)["params"]

    @jax.jit
    def run(x):
        results = {}
        for method, module in modules.items():
            upsampled = upsample_nearest(x, 2) if method == "nearest" else resize_bilinear(x, (8, 10))
            results[method] = (
                module.apply({"params": params}, x),
                Conv(6, 3).apply({"params": params["conv"]}, upsampled),
            )
        return results

    for method, (y, expected) in run(x).items():
        assert y.shape == (1, 8, 10, 6)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6, err_msg=method)


def test_benchmark_quick_runs_without_torch():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "transposed_conv.py"
    spec = importlib.util.spec_from_file_location("transposed_conv_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    rows = benchmark.main(["--quick", "--no-torch", "--repeats", "1"])
    assert len(rows) == len(benchmark.QUICK_SHAPES)
    assert all(row["xla"] > 0 and row["subpixel"] > 0 and "torch" not in row for row in rows)


def test_per_dimension_geometry():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(2, 5, 4, 3)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 2, 3, 4)), jnp.float32)
    geometry = {"strides": (2, 3), "padding": (1, 0), "output_padding": (1, 2)}

    @jax.jit
    def run(x, kernel):
        return {
            name: conv_transpose(x, kernel, **geometry, implementation=name) for name in ("xla", "subpixel", "auto")
        }

    outputs = run(x, kernel)
    assert outputs["xla"].shape == (2, 10, 13, 4)
    for name in ("subpixel", "auto"):
        np.testing.assert_allclose(outputs[name], outputs["xla"], rtol=1e-5, atol=1e-5, err_msg=name)

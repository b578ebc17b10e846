"""2-D conv (any groups) and transposed conv through oneDNN on XLA:CPU: forward, input and weight
gradient are each one oneDNN primitive reading XLA's NHWC / HWIO buffers in place
(:mod:`cnnjax.native.onednn`).

The three directions are bilinear ops whose VJPs are each other (the forward conv's input gradient
is ``input_gradient(dy, kernel)``, whose own VJP is a forward conv and a weight gradient, and so
on), so gradients of any order stay on oneDNN.  A transposed conv is a conv's input gradient.

fwd+bwd ms on 2 cores (``benchmarks/conv_paths.py``), XLA's conv -> oneDNN, PyTorch beside it:
3x3 128x32²x16 24.5 -> 9.1 (torch 16.5); 128x8²x64 12.2 -> 5.8 (9.5); depthwise 32x56²x144
2245 -> 27 (59); grouped 32x28²x256/32 22891 -> 29 (35).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.native.onednn import TARGET_NAME, bf16_supported

DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16))
FORWARD, INPUT_GRADIENT, WEIGHT_GRADIENT = 0, 1, 2
REQUIREMENT = "float32 (or bfloat16 where the CPU runs it) operands of one dtype and padding >= 0"


class Geometry(NamedTuple):
    strides: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    groups: int


def onednn_applies(x_dtype, kernel_dtype, padding: Sequence[tuple[int, int]]) -> bool:
    """oneDNN takes float32 (or, where the CPU runs them, bfloat16) operands of one dtype and
    non-negative padding."""
    dtype = jnp.dtype(x_dtype)
    if dtype not in DTYPES or jnp.dtype(kernel_dtype) != dtype or any(p < 0 for pair in padding for p in pair):
        return False
    return dtype == jnp.float32 or bf16_supported()


def output_shape(x_shape, kernel_shape, geometry: Geometry) -> tuple[int, ...]:
    kh, kw, _, features = kernel_shape
    sizes = [
        (size + lo + hi - d * (k - 1) - 1) // s + 1
        for size, k, s, (lo, hi), d in zip(
            x_shape[1:3], (kh, kw), geometry.strides, geometry.padding, geometry.dilation
        )
    ]
    return (x_shape[0], *sizes, features)


def _geometry(what: str, x, kernel, strides, padding, dilation, groups) -> Geometry:
    if not onednn_applies(x.dtype, kernel.dtype, padding):
        raise ValueError(f"oneDNN {what} needs {REQUIREMENT}, got {x.dtype} / {kernel.dtype}, padding {padding}")
    return Geometry(
        tuple(int(s) for s in strides),
        tuple((int(lo), int(hi)) for lo, hi in padding),
        tuple(int(d) for d in dilation),
        int(groups),
    )


def _call(direction: int, a, b, out_shape, geometry: Geometry):
    (top, bottom), (left, right) = geometry.padding
    return jax.ffi.ffi_call(TARGET_NAME, jax.ShapeDtypeStruct(tuple(out_shape), a.dtype), vmap_method="sequential")(
        a,
        b,
        direction=np.int64(direction),
        strides=np.asarray(geometry.strides, np.int64),
        padding=np.asarray([top, bottom, left, right], np.int64),
        dilation=np.asarray(geometry.dilation, np.int64),
        groups=np.int64(geometry.groups),
    )


def onednn_conv(
    x, kernel, *, strides: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int
):
    """Equals ``lax.conv_general_dilated(x, kernel, strides, padding, rhs_dilation=dilation,
    feature_group_count=groups)`` for NHWC ``x`` and an HWIO ``kernel`` (see :data:`REQUIREMENT`;
    bfloat16 accumulates in float32).  Needs :func:`cnnjax.native.onednn.onednn_available`."""
    if groups < 1 or kernel.shape[2] * groups != x.shape[-1] or kernel.shape[3] % groups:
        raise ValueError(
            f"kernel {kernel.shape} does not fit x {x.shape} with groups={groups}: need kernel (kh, kw, C_in / groups, "
            "features) with features divisible by groups"
        )
    geometry = _geometry("conv", x, kernel, strides, padding, dilation, groups)
    return _forward(x, kernel, geometry)


def onednn_conv_transpose(
    x,
    kernel,
    *,
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    output_shape: Sequence[int],
):
    """The input gradient of ``lax.conv_general_dilated(y, kernel.transpose(0, 1, 3, 2), strides, padding,
    rhs_dilation=dilation)`` (HWIO) at ``y`` of ``output_shape``, evaluated at ``x``: the transposed conv of
    NHWC ``x`` with ``kernel`` ``(kh, kw, C_in, C_out)``, as :func:`cnnjax.layers.conv_transpose`."""
    geometry = _geometry("transposed conv", x, kernel, strides, padding, dilation, 1)
    return _input_gradient(x, kernel.transpose(0, 1, 3, 2), geometry, tuple(output_shape))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _forward(x, kernel, geometry: Geometry):
    return _call(FORWARD, x, kernel, output_shape(x.shape, kernel.shape, geometry), geometry)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _input_gradient(dy, kernel, geometry: Geometry, x_shape: tuple[int, ...]):
    return _call(INPUT_GRADIENT, dy, kernel, x_shape, geometry)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _weight_gradient(x, dy, geometry: Geometry, kernel_shape: tuple[int, ...]):
    return _call(WEIGHT_GRADIENT, x, dy, kernel_shape, geometry)


# y = F(x, k), dx = I(dy, k), dk = W(x, dy) are bilinear with <dy, F(x, k)> = <x, I(dy, k)> = <k, W(x, dy)>:
# each one's VJP is made of the other two.
def _forward_vjp(geometry, residuals, ct):
    x, kernel = residuals
    ct = ct.astype(x.dtype)
    return _input_gradient(ct, kernel, geometry, x.shape), _weight_gradient(x, ct, geometry, kernel.shape)


def _input_gradient_vjp(geometry, x_shape, residuals, ct):
    dy, kernel = residuals
    ct = ct.astype(dy.dtype)
    return _forward(ct, kernel, geometry), _weight_gradient(ct, dy, geometry, kernel.shape)


def _weight_gradient_vjp(geometry, kernel_shape, residuals, ct):
    x, dy = residuals
    ct = ct.astype(x.dtype)
    return _input_gradient(dy, ct, geometry, x.shape), _forward(x, ct, geometry)


_forward.defvjp(lambda x, k, g: (_forward(x, k, g), (x, k)), _forward_vjp)
_input_gradient.defvjp(lambda dy, k, g, s: (_input_gradient(dy, k, g, s), (dy, k)), _input_gradient_vjp)
_weight_gradient.defvjp(lambda x, dy, g, s: (_weight_gradient(x, dy, g, s), (x, dy)), _weight_gradient_vjp)

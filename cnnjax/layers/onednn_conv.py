"""2-D conv (any groups) and transposed conv through oneDNN on XLA:CPU: forward, input and weight
gradient are each one oneDNN primitive reading XLA's NHWC / HWIO buffers in place
(:mod:`cnnjax.native.onednn`).  A transposed conv is a conv's input gradient, so it runs the same
three primitives in another order.

fwd+bwd ms on 2 cores (``benchmarks/conv_paths.py``), XLA's conv -> oneDNN, PyTorch beside it:
3x3 128x32²x16 24 -> 6.8 (torch 13.6); 128x8²x64 10.7 -> 7.6 (9.4); depthwise 32x56²x144
2035 -> 24 (77); grouped 16x28²x128/32 4122 -> 5.9 (24).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.native.onednn import TARGET_NAME

DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16))
FORWARD, INPUT_GRADIENT, WEIGHT_GRADIENT = 0, 1, 2

Pairs = tuple[tuple[int, int], ...]


def onednn_applies(x_dtype, kernel_dtype, padding: Sequence[tuple[int, int]]) -> bool:
    """oneDNN takes float32 or bfloat16 operands of one dtype and non-negative padding."""
    dtype = jnp.dtype(x_dtype)
    return dtype in DTYPES and jnp.dtype(kernel_dtype) == dtype and all(p >= 0 for pair in padding for p in pair)


def output_shape(x_shape, kernel_shape, strides, padding, dilation) -> tuple[int, ...]:
    kh, kw, _, features = kernel_shape
    sizes = [
        (size + lo + hi - d * (k - 1) - 1) // s + 1
        for size, k, s, (lo, hi), d in zip(x_shape[1:3], (kh, kw), strides, padding, dilation)
    ]
    return (x_shape[0], *sizes, features)


def _call(direction, a, b, out_shape, strides, padding, dilation, groups):
    return jax.ffi.ffi_call(TARGET_NAME, jax.ShapeDtypeStruct(out_shape, a.dtype), vmap_method="sequential")(
        a,
        b,
        direction=np.int64(direction),
        strides=np.asarray(strides, np.int64),
        padding=np.asarray([padding[0][0], padding[0][1], padding[1][0], padding[1][1]], np.int64),
        dilation=np.asarray(dilation, np.int64),
        groups=np.int64(groups),
    )


def onednn_conv(
    x, kernel, *, strides: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int
):
    """Equals ``lax.conv_general_dilated(x, kernel, strides, padding, rhs_dilation=dilation,
    feature_group_count=groups)`` for NHWC ``x`` and an HWIO ``kernel``, both float32 or both
    bfloat16 (accumulated in float32), padding >= 0.  Needs :func:`cnnjax.native.onednn.onednn_available`."""
    padding = _checked_padding("conv", x, kernel, padding)
    return _conv(x, kernel, tuple(strides), padding, tuple(dilation), int(groups))


def _checked_padding(what: str, x, kernel, padding) -> Pairs:
    if not onednn_applies(x.dtype, kernel.dtype, padding):
        raise ValueError(
            f"oneDNN {what} needs float32 or bfloat16 operands of one dtype and padding >= 0, got {x.dtype} / "
            f"{kernel.dtype}, padding {padding}"
        )
    return tuple((int(lo), int(hi)) for lo, hi in padding)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv(x, kernel, strides: tuple[int, int], padding: Pairs, dilation: tuple[int, int], groups: int):
    y_shape = output_shape(x.shape, kernel.shape, strides, padding, dilation)
    return _call(FORWARD, x, kernel, y_shape, strides, padding, dilation, groups)


def _forward(x, kernel, strides, padding, dilation, groups):
    return _conv(x, kernel, strides, padding, dilation, groups), (x, kernel)


def _backward(strides, padding, dilation, groups, residuals, dy):
    x, kernel = residuals
    dy = dy.astype(x.dtype)
    dx = _call(INPUT_GRADIENT, dy, kernel, x.shape, strides, padding, dilation, groups)
    dkernel = _call(WEIGHT_GRADIENT, x, dy, kernel.shape, strides, padding, dilation, groups)
    return dx, dkernel


_conv.defvjp(_forward, _backward)


def onednn_conv_transpose(
    x,
    kernel,
    *,
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    output_shape: Sequence[int],
):
    """The transposed conv that is the input gradient of ``lax.conv_general_dilated(y, kernel.transpose(0, 1,
    3, 2), strides, padding, rhs_dilation=dilation)`` (HWIO) at ``y`` of ``output_shape``, evaluated at
    ``x``: ``x`` NHWC, ``kernel`` ``(kh, kw, C_in, C_out)`` as :func:`cnnjax.layers.conv_transpose`."""
    padding = _checked_padding("transposed conv", x, kernel, padding)
    return _transposed(x, kernel, tuple(strides), padding, tuple(dilation), tuple(output_shape))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _transposed(x, kernel, strides, padding, dilation, out_shape):
    return _call(INPUT_GRADIENT, x, kernel.transpose(0, 1, 3, 2), out_shape, strides, padding, dilation, 1)


def _transposed_forward(x, kernel, strides, padding, dilation, out_shape):
    return _transposed(x, kernel, strides, padding, dilation, out_shape), (x, kernel)


def _transposed_backward(strides, padding, dilation, out_shape, residuals, dout):
    x, kernel = residuals
    dout = dout.astype(x.dtype)
    conv_kernel = kernel.transpose(0, 1, 3, 2)
    dx = _call(FORWARD, dout, conv_kernel, x.shape, strides, padding, dilation, 1)
    dkernel = _call(WEIGHT_GRADIENT, dout, x, conv_kernel.shape, strides, padding, dilation, 1)
    return dx, dkernel.transpose(0, 1, 3, 2)


_transposed.defvjp(_transposed_forward, _transposed_backward)

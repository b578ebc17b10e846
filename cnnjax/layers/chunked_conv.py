"""Standard (``groups=1``) 2-D conv with a faster weight gradient on XLA:CPU.

XLA:CPU computes a conv's weight gradient as one large convolution that contracts over batch and
space.  For ``kh x kw`` kernels it is often 1.5-2x faster as the sum of the same gradient over a
few batch chunks (an unrolled loop: ``lax.map`` serialises and is ~30x slower); for 1x1 kernels it
is 3-7x faster as one ``dot_general`` of the (strided) input with the output gradient.  The forward
pass is XLA's own conv; so is the input gradient, except for strided undilated convs, where it is
the sub-pixel transposed conv of :mod:`cnnjax.layers.subpixel`.  Low-precision partial gradients are summed in
float32.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnjax.layers.subpixel import subpixel_conv_transpose

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")

Pairs = Sequence[tuple[int, int]]


def _conv(x, kernel, strides, padding, dilation):
    return lax.conv_general_dilated(
        x, kernel, strides, padding, rhs_dilation=dilation, dimension_numbers=DIMENSION_NUMBERS
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def chunked_wgrad_conv(x, kernel, strides: tuple[int, int], padding: Pairs, dilation: tuple[int, int], chunks: int):
    """``lax.conv_general_dilated`` (NHWC / HWIO, ``groups=1``) whose weight gradient is the sum
    over ``chunks`` near-equal batch slices (1x1 kernels: one ``dot_general``, ``chunks`` unused).
    ``padding``: one ``(lo, hi)`` pair per spatial dimension."""
    return _conv(x, kernel, strides, padding, dilation)


def _forward(x, kernel, strides, padding, dilation, chunks):
    return _conv(x, kernel, strides, padding, dilation), (x, kernel)


def _pointwise_wgrad(x, dy, strides, padding, acc_dtype):
    """1x1 kernel: ``dW[c, f] = sum over (n, i, j) of x_padded[n, i*s, j*s, c] * dy[n, i, j, f]``."""
    n, out_h, out_w, features = dy.shape
    x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
    x = x[:, : (out_h - 1) * strides[0] + 1 : strides[0], : (out_w - 1) * strides[1] + 1 : strides[1]]
    dw = lax.dot_general(
        x.reshape(-1, x.shape[-1]), dy.reshape(-1, features), (((0,), (0,)), ((), ())), preferred_element_type=acc_dtype
    )
    return dw[None, None]


def has_fast_strided_input_gradient(kernel_shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Strided convs whose kernel spans at most two strides: their input gradient as a sub-pixel
    transposed conv reads ``dy`` at most 4 times (larger kernels: XLA's)."""
    return any(s > 1 for s in strides) and all(k <= 2 * s for k, s in zip(kernel_shape[:2], strides))


def _input_gradient(x, kernel, dy, strides, padding, dilation):
    """Strided, undilated convs whose kernel spans at most two strides: the sub-pixel transposed conv
    of ``dy`` (XLA's zero-inserting base-dilated conv: 128x32²x16 -> 32 stride 2, 7.6 -> 4.3 ms)."""
    if dilation != (1, 1) or not has_fast_strided_input_gradient(kernel.shape, strides):
        return jax.vjp(lambda x_: _conv(x_, kernel, strides, padding, dilation), x)[1](dy)[0]
    windows = [(lo, size) for (lo, _), size in zip(padding, x.shape[1:3])]
    return subpixel_conv_transpose(dy, kernel.transpose(0, 1, 3, 2), strides, windows).astype(x.dtype)


def _backward(strides, padding, dilation, chunks, residuals, dy):
    x, kernel = residuals
    dx = _input_gradient(x, kernel, dy, strides, padding, dilation)
    acc_dtype = jnp.promote_types(kernel.dtype, jnp.float32)
    if kernel.shape[:2] == (1, 1):
        return dx, _pointwise_wgrad(x, dy, strides, padding, acc_dtype).astype(kernel.dtype)
    bounds = np.linspace(0, x.shape[0], min(chunks, x.shape[0]) + 1).astype(int)
    dkernel = None
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        (part,) = jax.vjp(lambda k, lo=lo, hi=hi: _conv(x[lo:hi], k, strides, padding, dilation), kernel)[1](dy[lo:hi])
        part = part.astype(acc_dtype)
        dkernel = part if dkernel is None else dkernel + part
    return dx, dkernel.astype(kernel.dtype)


chunked_wgrad_conv.defvjp(_forward, _backward)

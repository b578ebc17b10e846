"""``'chunked_wgrad'``: a standard (``groups=1``) 2-D conv whose backward pass avoids XLA:CPU's slow
weight-gradient and strided input-gradient convs.

The forward pass is XLA's conv.  The weight gradient of a ``kh x kw`` kernel is the sum of the
same gradient over :func:`weight_gradient_chunks` batch slices (an unrolled loop: ``lax.map``
serialises); of a 1x1 kernel, one ``dot_general`` of the (strided) input with the output gradient.
The input gradient of a strided, undilated conv whose kernel spans at most two strides is the
sub-pixel transposed conv of :mod:`cnnjax.layers.subpixel`; otherwise XLA's.  Low-precision partial
gradients are summed in float32.

Serves forward 2-D calls with ``groups == 1`` and non-negative padding.  ``'auto'`` on CPU takes it
where oneDNN does not serve the call and one of the three rewrites applies (:func:`earns`: a 1x1
kernel, a strided kernel of at most two strides, or more than one weight-gradient chunk); see
``benchmarks/README.md``, "Conv paths without oneDNN".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnjax.layers.conv_call import FORWARD, ConvCall, Implementation, unsupported
from cnnjax.layers.subpixel import subpixel_conv_transpose
from cnnjax.layers.xla_conv import xla_conv as _conv

WGRAD_CHUNKS = 8
MIN_CHUNK_IMAGES = 8
MIN_CHUNKED_OUTPUT_PIXELS = 64
MAX_CHUNKED_WEIGHTS = 256 * 256

Pairs = Sequence[tuple[int, int]]


def weight_gradient_chunks(x_shape: Sequence[int], kernel_shape: Sequence[int], strides: Sequence[int]) -> int:
    """Batch chunks of a ``kh x kw`` conv's weight gradient: :data:`WGRAD_CHUNKS` when the batch fills
    them with :data:`MIN_CHUNK_IMAGES` images each, the output map has at least
    :data:`MIN_CHUNKED_OUTPUT_PIXELS` pixels and ``C_in * features <= MAX_CHUNKED_WEIGHTS``; else 1."""
    out_pixels = math.ceil(x_shape[1] / strides[0]) * math.ceil(x_shape[2] / strides[1])
    chunk = (
        x_shape[0] >= MIN_CHUNK_IMAGES * WGRAD_CHUNKS
        and out_pixels >= MIN_CHUNKED_OUTPUT_PIXELS
        and x_shape[-1] * kernel_shape[-1] <= MAX_CHUNKED_WEIGHTS
    )
    return WGRAD_CHUNKS if chunk else 1


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
    of ``dy`` (in place of XLA's conv of the zero-inserted ``dy``)."""
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


def _why_not(call: ConvCall) -> str | None:
    reason = unsupported(call, (FORWARD,), (2,))
    if reason is None and call.groups != 1:
        reason = f"needs groups == 1, got groups={call.groups}"
    if reason is None and any(p < 0 for pair in call.padding for p in pair):
        reason = "needs padding >= 0"
    return reason


def earns(call: ConvCall) -> bool:
    """A 1x1 kernel, a strided kernel of at most two strides, or more than one weight-gradient chunk."""
    return (
        call.kernel_shape[:2] == (1, 1)
        or has_fast_strided_input_gradient(call.kernel_shape, call.strides)
        or weight_gradient_chunks(call.x_shape, call.kernel_shape, call.strides) > 1
    )


CHUNKED_WGRAD = Implementation(
    "chunked_wgrad",
    why_not=_why_not,
    run=lambda x, kernel, call: chunked_wgrad_conv(
        x,
        kernel,
        call.strides,
        call.padding,
        call.dilation,
        weight_gradient_chunks(call.x_shape, kernel.shape, call.strides),
    ),
    earns=earns,
)

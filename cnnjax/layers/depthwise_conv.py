"""``'depthwise_shift'``: a depthwise 2-D conv (``groups == C_in``) as ``kh * kw`` shifted multiply-adds.

Each kernel tap is a strided slice of the padded input times a per-channel weight.  The input
gradient is autodiff of these element-wise ops.  The weight gradient is one variadic
``lax.reduce`` over the ``kh * kw`` products ``tap * dy`` per batch slice, which keeps the batch
(and, for small batches, the rows) and sums those afterwards: one pass over ``x`` and ``dy`` that
XLA:CPU spreads over its threads, where autodiff's ``kh * kw`` separate reductions would read both
tensors ``kh * kw`` times.  Low-precision inputs accumulate in float32.

Serves forward 2-D calls with ``groups == C_in`` and non-negative padding; ``'auto'`` on CPU takes
it for every such call oneDNN does not serve (``benchmarks/README.md``, "Conv paths without oneDNN").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.layers.conv_call import FORWARD, ConvCall, Implementation, unsupported

# Batches at least this large keep only the batch axis in the weight-gradient reduction; smaller
# ones keep batch and rows.
KEEP_BATCH_ONLY_FROM = 64
# Independent reductions over this many batch slices run side by side on XLA:CPU's threads.
WGRAD_BATCH_CHUNKS = 2

Pairs = tuple[tuple[int, int], ...]


def _taps(x, kernel_shape, strides, padding, dilation):
    """The ``kh * kw`` strided slices of the padded (channel-repeated) input, row-major by tap."""
    kh, kw, _, features = kernel_shape
    (sh, sw), (dh, dw) = strides, dilation
    x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
    if features != x.shape[-1]:
        x = jnp.repeat(x, features // x.shape[-1], axis=-1)
    ho = (x.shape[1] - dh * (kh - 1) - 1) // sh + 1
    wo = (x.shape[2] - dw * (kw - 1) - 1) // sw + 1
    return [
        lax.slice(
            x,
            (0, i * dh, j * dw, 0),
            (x.shape[0], i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1, features),
            (1, sh, sw, 1),
        )
        for i in range(kh)
        for j in range(kw)
    ]


def _shifted_sum(x, kernel, strides, padding, dilation):
    acc_dtype = jnp.promote_types(x.dtype, jnp.float32)
    taps = _taps(x, kernel.shape, strides, padding, dilation)
    weights = kernel.reshape(-1, kernel.shape[-1]).astype(acc_dtype)
    out = None
    for tap, weight in zip(taps, weights):
        term = tap.astype(acc_dtype) * weight
        out = term if out is None else out + term
    return out.astype(jnp.result_type(x.dtype, kernel.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _depthwise(x, kernel, strides: tuple[int, int], padding: Pairs, dilation: tuple[int, int]):
    return _shifted_sum(x, kernel, strides, padding, dilation)


def _forward(x, kernel, strides, padding, dilation):
    return _shifted_sum(x, kernel, strides, padding, dilation), (x, kernel)


def _backward(strides, padding, dilation, residuals, dy):
    x, kernel = residuals
    (dx,) = jax.vjp(lambda x_: _shifted_sum(x_, kernel, strides, padding, dilation), x)[1](dy)
    acc_dtype = jnp.promote_types(kernel.dtype, jnp.float32)
    dy = dy.astype(acc_dtype)
    kept = 1 if x.shape[0] >= KEEP_BATCH_ONLY_FROM else 2  # leading axes the reduction keeps
    bounds = [round(i * x.shape[0] / WGRAD_BATCH_CHUNKS) for i in range(WGRAD_BATCH_CHUNKS + 1)]
    dkernel = sum(
        _weight_gradient(x[lo:hi], dy[lo:hi], kernel.shape, strides, padding, dilation, kept, acc_dtype)
        for lo, hi in zip(bounds[:-1], bounds[1:])
        if hi > lo
    )
    return dx, dkernel.astype(kernel.dtype)


def _weight_gradient(x, dy, kernel_shape, strides, padding, dilation, kept, acc_dtype):
    """One variadic reduction of the ``kh * kw`` products ``tap * dy`` over all but the ``kept``
    leading axes, then the sum over those."""
    products = tuple(tap.astype(acc_dtype) * dy for tap in _taps(x, kernel_shape, strides, padding, dilation))
    zeros = tuple(jnp.zeros((), acc_dtype) for _ in products)
    partial_sums = lax.reduce(products, zeros, lambda a, b: tuple(u + v for u, v in zip(a, b)), tuple(range(kept, 3)))
    return jnp.stack([s.sum(axis=tuple(range(kept))) for s in partial_sums]).reshape(kernel_shape)


_depthwise.defvjp(_forward, _backward)


def _why_not(call: ConvCall) -> str | None:
    reason = unsupported(call, (FORWARD,), (2,))
    if reason is None and call.groups != call.in_channels:
        reason = f"needs groups == C_in ({call.in_channels}), got groups={call.groups}"
    if reason is None and any(p < 0 for pair in call.padding for p in pair):
        reason = "needs padding >= 0"
    return reason


DEPTHWISE_SHIFT = Implementation(
    "depthwise_shift",
    why_not=_why_not,
    run=lambda x, kernel, call: _depthwise(x, kernel, call.strides, call.padding, call.dilation),
)

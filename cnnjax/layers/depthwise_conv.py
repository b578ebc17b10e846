"""Depthwise 2-D conv as ``kh * kw`` shifted multiply-adds (XLA:CPU's depthwise conv is ~10x slower).

Each kernel tap is a strided slice of the padded input times a per-channel weight; autodiff of
these element-wise ops gives both gradients.  Low-precision inputs accumulate in float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jax import lax


def depthwise_shift_conv(
    x, kernel, *, strides: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int]
):
    """Equals ``lax.conv_general_dilated(..., feature_group_count=C_in)`` for NHWC ``x`` of
    ``C_in`` channels and an HWIO ``kernel`` of shape ``(kh, kw, 1, C_in * m)``: output channel
    ``c * m + j`` is input channel ``c`` convolved with filter ``c * m + j`` (channel multiplier
    ``m``)."""
    n, _, _, channels = x.shape
    kh, kw, one, features = kernel.shape
    if one != 1 or features % channels:
        raise ValueError(f"depthwise kernel must be (kh, kw, 1, C_in * m) for C_in={channels}, got {kernel.shape}")
    (sh, sw), (dh, dw) = strides, dilation
    acc_dtype = jnp.promote_types(x.dtype, jnp.float32)
    x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
    if features != channels:
        x = jnp.repeat(x, features // channels, axis=-1)
    ho = (x.shape[1] - dh * (kh - 1) - 1) // sh + 1
    wo = (x.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            tap = lax.slice(
                x,
                (0, i * dh, j * dw, 0),
                (n, i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1, features),
                (1, sh, sw, 1),
            )
            term = tap.astype(acc_dtype) * kernel[i, j, 0].astype(acc_dtype)
            out = term if out is None else out + term
    return out.astype(jnp.result_type(x.dtype, kernel.dtype))

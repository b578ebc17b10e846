"""Max / average pooling with the padding modes of :mod:`conv_arithmetic`, global and adaptive pooling.

``window`` and ``strides`` are an int or one int per spatial dimension; ``strides`` defaults to
``window`` (non-overlapping windows, as PyTorch and Keras; flax's own default is 1).  Inputs are
``(batch, *spatial, channels)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers.conv_arithmetic import Padding, per_dim, resolve_padding_nd


def _window_args(x, window, strides, padding):
    ndim = x.ndim - 2
    window = per_dim(window, ndim, "window")
    strides = window if strides is None else per_dim(strides, ndim, "strides")
    pads = resolve_padding_nd(padding, x.shape[1:-1], window, strides, (1,) * ndim)
    return window, strides, pads


def max_pool(x, window: int | Sequence[int], strides: int | Sequence[int] | None = None, padding: Padding = "valid"):
    """Max over each window; padded positions are -inf, so they never win."""
    window, strides, pads = _window_args(x, window, strides, padding)
    return nn.max_pool(x, window, strides=strides, padding=pads)


def avg_pool(
    x,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "valid",
    count_include_pad: bool = True,
):
    """Mean over each window; padded zeros count unless ``count_include_pad=False``."""
    window, strides, pads = _window_args(x, window, strides, padding)
    return nn.avg_pool(x, window, strides=strides, padding=pads, count_include_pad=count_include_pad)


def global_avg_pool(x, keepdims: bool = False):
    """Mean over the spatial axes: ``(N, *spatial, C) -> (N, C)`` (or ``(N, 1, 1, C)``)."""
    return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)


def _adaptive_avg_1d(x, axis: int, out: int):
    size = x.shape[axis]
    if size == out:
        return x
    if size % out == 0:  # even bins: one reshape + mean
        shape = x.shape[:axis] + (out, size // out) + x.shape[axis + 1 :]
        return jnp.mean(x.reshape(shape), axis=axis + 1)
    # PyTorch's bins: [floor(i * size / out), ceil((i + 1) * size / out)), possibly overlapping
    # (or repeating one input when size < out).
    bins = []
    for i in range(out):
        lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
        bins.append(jnp.mean(jnp.take(x, jnp.arange(lo, hi), axis=axis), axis=axis, keepdims=True))
    return jnp.concatenate(bins, axis=axis)


def adaptive_avg_pool(x, output_size: int | Sequence[int]):
    """PyTorch's ``AdaptiveAvgPool2d`` on NHWC: ``(N, H, W, C) -> (N, oh, ow, C)``.

    Exact for every size: identity when ``H == oh``, a reshape-mean when ``oh`` divides ``H``,
    otherwise PyTorch's (possibly overlapping) bins ``[floor(i H / oh), ceil((i + 1) H / oh))``,
    which for ``H < oh`` repeat input pixels (e.g. 1x1 -> 7x7 copies the pixel).  The bins are
    products of per-axis bins, so pooling rows then columns gives the same means.
    """
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    return _adaptive_avg_1d(_adaptive_avg_1d(x, 1, oh), 2, ow)

"""Upsampling (NHWC): nearest-neighbour by an integer factor, PyTorch-exact bilinear resize, upsample-then-conv."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from flax.typing import Dtype
from jax import lax

from cnnjax.layers.conv import Conv
from cnnjax.layers.conv_arithmetic import Padding, per_dim

METHODS = ("nearest", "bilinear")


def upsample_nearest(x, scale: int | Sequence[int]):
    """Repeat every pixel of NHWC ``x`` ``scale`` times per spatial axis (a broadcast + reshape, no gather)."""
    sh, sw = per_dim(scale, 2, "scale")
    n, h, w, c = x.shape
    return jnp.broadcast_to(x[:, :, None, :, None], (n, h, sh, w, sw, c)).reshape(n, h * sh, w * sw, c)


def interpolation_matrix(in_size: int, out_size: int, align_corners: bool = False) -> np.ndarray:
    """``(out_size, in_size)`` matrix of PyTorch's 1-D linear interpolation (no antialias).

    ``align_corners=False``: source ``(o + 0.5) * in / out - 0.5`` clamped at 0 (half-pixel
    centres); ``True``: ``o * (in - 1) / (out - 1)`` (0 if ``out == 1``).  Each row weights the two
    neighbours ``floor(src)`` and ``min(floor(src) + 1, in - 1)``.
    """
    per_dim((in_size, out_size), 2, "in_size and out_size")
    out = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = out * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        src = np.maximum((out + 0.5) * (in_size / out_size) - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(int), in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    matrix = np.zeros((out_size, in_size))
    np.add.at(matrix, (np.arange(out_size), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(out_size), hi), frac)
    return matrix


def resize_bilinear(x, size_hw: Sequence[int], align_corners: bool = False):
    """NHWC ``x`` resized to ``size_hw``, equal to PyTorch's ``F.interpolate(mode='bilinear',
    align_corners=...)`` (up- and downsampling, no antialias): two small interpolation matrices
    applied with einsum (exact; the matmuls run at full precision)."""
    (h, w), (out_h, out_w) = x.shape[1:3], per_dim(size_hw, 2, "size_hw")
    rows = jnp.asarray(interpolation_matrix(h, out_h, align_corners), x.dtype)
    cols = jnp.asarray(interpolation_matrix(w, out_w, align_corners), x.dtype)
    highest = lax.Precision.HIGHEST
    x = jnp.einsum("oh,nhwc->nowc", rows, x, precision=highest)
    return jnp.einsum("pw,nowc->nopc", cols, x, precision=highest)


class UpsampleConv(nn.Module):
    """Upsample by ``scale`` (``method``: ``'nearest'`` or ``'bilinear'``, align_corners=False), then a
    stride-1 :class:`~cnnjax.layers.Conv`: the U-Net alternative to a transposed conv (no checkerboard
    artefacts).  The conv's params are in the submodule ``conv``."""

    features: int
    kernel_size: int | Sequence[int] = 3
    scale: int | Sequence[int] = 2
    method: str = "nearest"
    padding: Padding = "same"
    use_bias: bool = True
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        if self.method not in METHODS:
            raise ValueError(f"unknown upsampling method {self.method!r}; expected one of {METHODS}")
        sh, sw = per_dim(self.scale, 2, "scale")
        if self.method == "nearest":
            x = upsample_nearest(x, (sh, sw))
        else:
            x = resize_bilinear(x, (x.shape[1] * sh, x.shape[2] * sw))
        conv = functools.partial(Conv, dtype=self.dtype, param_dtype=self.param_dtype)
        return conv(self.features, self.kernel_size, padding=self.padding, use_bias=self.use_bias, name="conv")(x)

"""``'subpixel'``: a transposed 2-D conv (dilation 1) as one stride-1 forward conv to ``s*s*C_out``
channels followed by depth-to-space.

The kernel is zero-padded to ``m*s`` (``m = ceil(k/s)``) and split into ``s*s`` phases; an ``m x m``
stride-1 conv of the zero-padded input (im2col + one matmul) computes every phase at once, then
depth-to-space and a crop to the output window.  Only the ``s``-blocks that overlap the output are
computed; for kernel <= stride it is one matmul.  See :mod:`cnnjax.layers.transposed_conv` for the
convention.  :mod:`cnnjax.layers.chunked_conv` uses it for strided input gradients.

Serves transposed 2-D calls with dilation 1; ``'auto'`` on CPU takes it where oneDNN does not serve
the call and some stride is > 1 (``benchmarks/README.md``, "Conv paths without oneDNN").
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jax import lax

from cnnjax.layers.conv_call import TRANSPOSED, ConvCall, Implementation, unsupported


def subpixel_conv_transpose(x, kernel, strides: Sequence[int], windows: Sequence[tuple[int, int]]):
    """The sub-pixel transposed conv (dilation 1), see the module docstring: rows ``[start, start + size)`` of the
    full, uncropped transposed conv (length ``(n - 1) * s + k``; zeros beyond it), one ``(start,
    size)`` per spatial dimension; PyTorch's result is ``(padding, (n - 1) * s - 2 * padding + k +
    output_padding)``.  The ``m x m`` conv is im2col + one matmul, whose gradients are matmuls too."""
    (sh, sw), (kh, kw, c_in, c_out) = strides, kernel.shape
    mh, mw = -(-kh // sh), -(-kw // sw)
    # Phase kernel: taps k = j*s + r; block a receives x[a - j], i.e. tap t = m-1-j of a correlation.
    kern = jnp.pad(kernel, ((0, mh * sh - kh), (0, mw * sw - kw), (0, 0), (0, 0)))
    kern = kern.reshape(mh, sh, mw, sw, c_in, c_out)[::-1, :, ::-1]
    kern = kern.transpose(0, 2, 4, 1, 3, 5).reshape(mh, mw, c_in, sh * sw * c_out)
    # Output rows [p, p + out) of the full (unpadded) result lie in blocks [a0, a1).
    x_pads, crops = [], []
    for n, s, m, (p, out) in zip(x.shape[1:3], strides, (mh, mw), windows):
        a0, a1 = p // s, -(-(p + out) // s)
        lo = m - 1 - a0
        x_pads.append((lo, a1 - a0 - n - lo + m - 1))
        crops.append((p - a0 * s, out))
    x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), *((lo, hi, 0) for lo, hi in x_pads), (0, 0, 0)))
    bh, bw = x.shape[1] - mh + 1, x.shape[2] - mw + 1
    cols = [x[:, a : a + bh, b : b + bw] for a in range(mh) for b in range(mw)]
    cols = cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)
    y = jnp.einsum("nhwc,cd->nhwd", cols, kern.reshape(mh * mw * c_in, sh * sw * c_out))
    y = (
        y.reshape(x.shape[0], bh, bw, sh, sw, c_out)
        .transpose(0, 1, 3, 2, 4, 5)
        .reshape(x.shape[0], bh * sh, bw * sw, c_out)
    )
    (top, height), (left, width) = crops
    return y[:, top : top + height, left : left + width]


def _why_not(call: ConvCall) -> str | None:
    reason = unsupported(call, (TRANSPOSED,), (2,))
    if reason is None and any(d != 1 for d in call.dilation):
        reason = f"needs dilation 1, got {call.dilation}"
    return reason


def _run(x, kernel, call: ConvCall):
    windows = [(p, out) for (p, _), out in zip(call.padding, call.output_shape[1:-1])]
    return subpixel_conv_transpose(x, kernel, call.strides, windows)


SUBPIXEL = Implementation("subpixel", why_not=_why_not, run=_run, earns=lambda call: any(s > 1 for s in call.strides))

"""Transposed convolution (NHWC) with PyTorch's semantics, and fast formulations for XLA:CPU.

Convention.  ``kernel`` has shape ``(kh, kw, C_in, C_out)`` (the layout of flax's
``nn.ConvTranspose``) and acts in the *scatter* orientation of PyTorch's ``ConvTranspose2d``:
input pixel ``i`` adds ``x[i] @ kernel[k]`` to output pixel ``i * s - padding + k * d``, then
``output_padding`` extra rows/columns are kept at the end.  This is exactly

    lax.conv_transpose(x, kernel, strides, pads, rhs_dilation=dilation, transpose_kernel=True,
                       dimension_numbers=('NHWC', 'HWOI', 'NHWC'))

with ``pads = (d*(k-1) - p, d*(k-1) - p + output_padding)`` per dimension.  It is the
vector-Jacobian product, w.r.t. its input, of the forward conv ``lax.conv_general_dilated(y,
kernel.transpose(0, 1, 3, 2), strides, ((p, p - output_padding), ...), rhs_dilation=dilation)`` (HWIO)
evaluated at an input of the transposed conv's output size.  Porting weights: from PyTorch's ``(C_in, C_out, kh,
kw)`` weight ``W``, ``kernel = W.permute(2, 3, 0, 1)``; from flax's ``nn.ConvTranspose``
(``transpose_kernel=False``, which correlates without flipping), ``kernel = flax_kernel[::-1, ::-1]``
(flax's ``padding`` is on the dilated input: its ``'VALID'`` is PyTorch's ``padding=0`` for kernel >= stride).

Implementations (:data:`IMPLEMENTATIONS`), all with the same values and gradients:

- ``'xla'``: ``lax.conv_transpose`` as above; any kernel, stride, padding and dilation.
- ``'depth_to_space'``: kernel <= stride, dilation 1.  ``x @ W(C_in, s*s*C_out)`` (the kernel
  zero-padded to the stride), depth-to-space to ``(N, H*s, W*s, C_out)``, cropped to PyTorch's
  output window (``padding``, ``output_padding``).
- ``'subpixel'``: dilation 1, any kernel.  The kernel is zero-padded to ``m*s`` (``m = ceil(k/s)``)
  and split into ``s*s`` phases; an ``m x m`` stride-1 forward conv of the zero-padded input to
  ``s*s*C_out`` channels (as im2col + one matmul) computes every phase at once, then depth-to-space
  and the crop.  Only the ``s``-blocks that overlap the output are computed.
- ``'onednn'``: XLA:CPU only, float32 / bfloat16, ``output_padding <= padding + stride - 1``:
  oneDNN's primitives (the conv's input gradient forward, its forward and weight gradient backward;
  :mod:`cnnjax.layers.onednn_conv`).  ``'auto'`` takes the XLA-based path where it does not fit.
- ``'auto'``: :func:`select_implementation` for the platform of the current
  :func:`~cnnjax.layers.conv_target.conv_target` (XLA's without one), or XLA's where the target's
  implementation is ``'xla'``.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from flax.typing import Dtype, Initializer
from jax import lax

from cnnjax.layers.conv import he_fan_out_normal
from cnnjax.layers.conv_arithmetic import per_dim
from cnnjax.layers.conv_target import current_target
from cnnjax.layers.onednn_conv import REQUIREMENT, onednn_applies, onednn_conv_transpose
from cnnjax.layers.subpixel import subpixel_conv_transpose
from cnnjax.native.onednn import onednn_available, unavailable_reason

IMPLEMENTATIONS = ("auto", "xla", "onednn", "depth_to_space", "subpixel")
_DN = ("NHWC", "HWOI", "NHWC")


def transposed_conv_output_size(
    size: int, kernel: int, stride: int, padding: int, output_padding: int = 0, dilation: int = 1
) -> int:
    """PyTorch's rule: ``(size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``."""
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    if padding < 0 or output_padding < 0:
        raise ValueError(f"padding and output_padding must be non-negative, got {padding}, {output_padding}")
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than the stride ({stride}) or the dilation ({dilation})"
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(
            f"transposed conv output size would be {out} < 1 (input {size}, kernel {kernel}, stride {stride}, "
            f"padding {padding}, output_padding {output_padding}, dilation {dilation}): padding is too large"
        )
    return out


def select_implementation(
    kernel_size: Sequence[int], strides: Sequence[int], dilation: Sequence[int], platform: str | None, dtype=jnp.float32
):
    """The implementation ``'auto'`` uses compiled for ``platform``: for ``'cpu'`` ``'onednn'`` for
    float32 / bfloat16 where it loads, else :func:`select_xla_path`."""
    if platform == "cpu" and onednn_applies(dtype, dtype, ()) and onednn_available():
        return "onednn"
    return select_xla_path(kernel_size, strides, dilation, platform)


def select_xla_path(kernel_size: Sequence[int], strides: Sequence[int], dilation: Sequence[int], platform: str | None):
    """The XLA-based implementation compiled for ``platform``.

    CPU, dilation 1 and a stride > 1: ``'depth_to_space'`` if kernel <= stride, else ``'subpixel'``.
    Otherwise ``'xla'``: with stride 1 the op is an ordinary conv, which XLA:CPU does well (k3 s1
    (8,32,32,64)->32: 23 ms vs 107 ms as im2col), and other backends have native transposed convs
    (cuDNN on GPU; not measured here).  Measured fwd+bwd on 2 shared CPU cores, XLA vs fast, ms (min
    of 20, other jobs running): (8,32,32,64)->32 k2s2 262 vs 31; (8,64,64,32)->16 k2s2 299 vs 38;
    (8,16,16,128)->64 k4s2p1 880 vs 73; (8,32,32,64)->32 k3s2p1op1 467 vs 28; (8,16,16,64)->32 k3s3
    136 vs 9; k5s3p1 258 vs 32.  ``benchmarks/transposed_conv.py`` reproduces these.
    """
    if platform != "cpu" or any(d != 1 for d in dilation) or all(s == 1 for s in strides):
        return "xla"
    return "depth_to_space" if all(k <= s for k, s in zip(kernel_size, strides)) else "subpixel"


def conv_transpose(
    x,
    kernel,
    *,
    strides: int | Sequence[int],
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    implementation: str = "auto",
):
    """Transposed conv of NHWC ``x`` with ``kernel`` ``(kh, kw, C_in, C_out)``, PyTorch's
    ``conv_transpose2d`` semantics (module docstring).  ``padding``, ``output_padding``: an int or one
    per spatial dimension (symmetric, as PyTorch).  An implementation that does not apply raises."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}; expected one of {IMPLEMENTATIONS}")
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != x.shape[-1]:
        raise ValueError(f"expected NHWC x and (kh, kw, C_in, C_out) kernel, got {x.shape} and {kernel.shape}")
    kernel_size = kernel.shape[:2]
    strides, dilation = per_dim(strides, 2, "strides"), per_dim(dilation, 2, "dilation")
    padding = (padding,) * 2 if isinstance(padding, int) else tuple(padding)
    output_padding = (output_padding,) * 2 if isinstance(output_padding, int) else tuple(output_padding)
    if len(padding) != 2 or len(output_padding) != 2 or not all(isinstance(v, int) for v in padding + output_padding):
        raise ValueError(
            f"padding and output_padding must be an int or one int per spatial dimension (symmetric, as PyTorch), "
            f"got {padding!r}, {output_padding!r}"
        )
    sizes = [  # validates
        transposed_conv_output_size(*args)
        for args in zip(x.shape[1:3], kernel_size, strides, padding, output_padding, dilation)
    ]
    onednn_fits = all(op <= p + s - 1 for p, op, s in zip(padding, output_padding, strides))
    target = current_target()
    implementation = target.implementation if implementation == "auto" else implementation
    if implementation == "auto":
        implementation = select_implementation(kernel_size, strides, dilation, target.platform, dtype=x.dtype)
        if implementation == "onednn" and not onednn_fits:
            implementation = select_xla_path(kernel_size, strides, dilation, target.platform)
    if implementation == "onednn":
        if not onednn_applies(x.dtype, kernel.dtype, ()) or not onednn_fits:
            raise ValueError(
                f"'onednn' needs {REQUIREMENT} and output_padding <= padding + stride - 1, got {x.dtype} / "
                f"{kernel.dtype}, padding {padding}, output_padding {output_padding}, strides {strides}"
            )
        if not onednn_available():
            raise ValueError(f"'onednn' is unavailable: {unavailable_reason()}")
        return onednn_conv_transpose(
            x,
            kernel,
            strides=strides,
            # the conv this is the input gradient of pads (p, max(p - op, 0)): its output is x's size
            padding=tuple((p, max(p - op, 0)) for p, op in zip(padding, output_padding)),
            dilation=dilation,
            output_shape=(x.shape[0], *sizes, kernel.shape[-1]),
        )
    if implementation == "xla":
        dims = zip(kernel_size, padding, output_padding, dilation)
        pads = tuple((d * (k - 1) - p, d * (k - 1) - p + op) for k, p, op, d in dims)
        return lax.conv_transpose(
            x, kernel, strides, pads, rhs_dilation=dilation, dimension_numbers=_DN, transpose_kernel=True
        )
    needs_small_kernel = implementation == "depth_to_space"
    if any(d != 1 for d in dilation) or (needs_small_kernel and any(k > s for k, s in zip(kernel_size, strides))):
        raise ValueError(
            f"{implementation!r} needs dilation 1{' and kernel <= stride' if needs_small_kernel else ''}; got kernel "
            f"{kernel_size}, strides {strides}, dilation {dilation} (use 'xla')"
        )
    windows = [
        (p, (n - 1) * s - 2 * p + k + op)
        for n, k, s, p, op in zip(x.shape[1:3], kernel_size, strides, padding, output_padding)
    ]
    return subpixel_conv_transpose(x, kernel, strides, windows)


class ConvTranspose(nn.Module):
    """2-D transposed conv with PyTorch's ``ConvTranspose2d`` semantics (see :func:`conv_transpose`).

    Params ``kernel`` ``(kh, kw, C_in, features)`` and ``bias``; dtype promotion as ``nn.Conv``.
    ``kernel_init`` defaults to He fan-out normal, var = 2 / (kh*kw*features): the backward pass of a
    transposed conv is an ordinary conv over ``kh*kw*features`` inputs, so this preserves gradient
    variance through ReLU nets, as :class:`~cnnjax.layers.Conv` does (flax's fan-in,
    ``kh*kw*C_in``, is not the forward fan either: each output sees ``kh*kw*C_in / (sh*sw)`` terms).
    PyTorch's default init is ``nn.initializers.variance_scaling(1 / 3, 'fan_out', 'uniform')``.
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int]
    padding: int | Sequence[int] = 0
    output_padding: int | Sequence[int] = 0
    dilation: int | Sequence[int] = 1
    use_bias: bool = True
    kernel_init: Initializer = he_fan_out_normal
    bias_init: Initializer = nn.initializers.zeros
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    implementation: str = "auto"

    @nn.compact
    def __call__(self, x):
        kernel_shape = (*per_dim(self.kernel_size, 2, "kernel_size"), x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = conv_transpose(
            x,
            kernel,
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            dilation=self.dilation,
            implementation=self.implementation,
        )
        return y if bias is None else y + bias

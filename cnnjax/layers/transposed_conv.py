"""Transposed convolution (channels-last, 1- to 3-D) with PyTorch's semantics.

Convention (2-D written out).  ``kernel`` has shape ``(kh, kw, C_in, C_out)`` (the layout of flax's
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

Every implementation of the conv dispatch that serves transposed calls computes the same values
and gradients (:mod:`cnnjax.layers.conv_dispatch`: ``'xla'`` any rank, ``'onednn'`` and
``'subpixel'`` 2-D).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn

from cnnjax.layers.conv import ConvLayer
from cnnjax.layers.conv_arithmetic import per_dim, transposed_conv_output_size
from cnnjax.layers.conv_call import TRANSPOSED, ConvCall
from cnnjax.layers.conv_dispatch import dispatch


def _symmetric(value: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    values = (value,) * ndim if isinstance(value, int) else tuple(value)
    if len(values) != ndim or not all(isinstance(v, int) for v in values):
        raise ValueError(
            f"padding and output_padding must be an int or one int per spatial dimension (symmetric, as PyTorch), "
            f"got {value!r}"
        )
    return values


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
    """Transposed conv of channels-last ``x`` with ``kernel`` ``(*k, C_in, C_out)``, PyTorch's
    ``conv_transpose{1,2,3}d`` semantics (module docstring).  ``padding``, ``output_padding``: an int or
    one per spatial dimension (symmetric, as PyTorch).  ``implementation``: one of
    :data:`~cnnjax.layers.conv_dispatch.NAMES` (see :func:`~cnnjax.layers.conv_dispatch.dispatch`)."""
    ndim = x.ndim - 2
    if ndim < 1 or kernel.ndim != x.ndim or kernel.shape[-2] != x.shape[-1]:
        raise ValueError(
            f"expected (N, *spatial, C_in) x and (*k, C_in, C_out) kernel, got {x.shape} and {kernel.shape}"
        )
    strides, dilation = per_dim(strides, ndim, "strides"), per_dim(dilation, ndim, "dilation")
    padding, output_padding = _symmetric(padding, ndim), _symmetric(output_padding, ndim)
    for args in zip(x.shape[1:-1], kernel.shape[:-2], strides, padding, output_padding, dilation):
        transposed_conv_output_size(*args)  # validates
    pairs = tuple((p, p) for p in padding)
    call = ConvCall.of(TRANSPOSED, x, kernel, strides, pairs, dilation, output_padding=output_padding)
    return dispatch(x, kernel, call, implementation)


class ConvTranspose(ConvLayer):
    """Transposed conv with PyTorch's ``ConvTranspose{1,2,3}d`` semantics (see :func:`conv_transpose`).

    Params ``kernel`` ``(*kernel_size, C_in, features)`` and ``bias``; dtype promotion as ``nn.Conv``
    (:class:`~cnnjax.layers.conv.ConvLayer`).  ``kernel_init`` defaults to He fan-out normal, var = 2 /
    (kh*kw*features): the backward pass of a transposed conv is an ordinary conv over ``kh*kw*features``
    inputs, so this preserves gradient variance through ReLU nets, as :class:`~cnnjax.layers.Conv` does
    (flax's fan-in, ``kh*kw*C_in``, is not the forward fan either: each output sees ``kh*kw*C_in /
    (sh*sw)`` terms).  PyTorch's default init is ``nn.initializers.variance_scaling(1 / 3, 'fan_out',
    'uniform')``.
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int]
    padding: int | Sequence[int] = 0
    output_padding: int | Sequence[int] = 0
    dilation: int | Sequence[int] = 1

    @nn.compact
    def __call__(self, x):
        kernel_size = per_dim(self.kernel_size, x.ndim - 2, "kernel_size")
        x, kernel, bias = self.parameters(x, (*kernel_size, x.shape[-1], self.features))
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

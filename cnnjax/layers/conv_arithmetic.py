"""Output-size arithmetic of convolutions, transposed convolutions and pooling windows: the one place
it is defined.

Per spatial dimension, with input size ``n``, kernel (window) size ``k``, stride ``s``,
dilation ``d`` and padding ``(lo, hi)``::

    k_eff = d * (k - 1) + 1                       # extent of the dilated kernel
    out   = floor((n + lo + hi - k_eff) / s) + 1

Padding modes (``padding`` argument):

- ``'valid'``: no padding, ``(0, 0)``.  Stride 1: ``out = n - k_eff + 1``.
- ``'same'``: XLA/TensorFlow convention, ``out = ceil(n / s)``.  Total padding
  ``max((ceil(n / s) - 1) * s + k_eff - n, 0)`` with ``lo = total // 2`` and the odd pixel at
  the END (``hi = total - lo``).  Stride 2 on an even input with k=3 thus pads ``(0, 1)``,
  not ``(1, 1)`` as PyTorch's ``padding=1`` does.  Stride 1: ``out = n``.
- ``'full'``: ``(k_eff - 1, k_eff - 1)``, every partial overlap.  Stride 1: ``out = n + k_eff - 1``.
- ``int p``: symmetric ``(p, p)``, as in PyTorch and the papers.
- ``(lo, hi)``: explicit pair for one dimension.  For 2-D layers, ``((lo, hi), (lo, hi))``
  gives one pair per spatial dimension (see :func:`resolve_padding_nd`).

Negative sizes or paddings, unknown modes and outputs smaller than 1 raise ``ValueError``.

A transposed conv (PyTorch's ``ConvTranspose``, symmetric ``padding`` ``p``) has
``out = (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1``
(:func:`transposed_conv_output_size`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Padding = str | int | tuple[int, int] | Sequence  # one dimension, or one pair per dimension

MODES = ("valid", "same", "full")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _is_pair(value) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def resolve_padding(
    padding: Padding, input_size: int, kernel_size: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """Explicit ``(lo, hi)`` padding of one spatial dimension; raises ``ValueError`` if invalid."""
    _check_positive(input_size=input_size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    k_eff = dilation * (kernel_size - 1) + 1
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            pads = (0, 0)
        elif mode == "same":
            total = max((math.ceil(input_size / stride) - 1) * stride + k_eff - input_size, 0)
            pads = (total // 2, total - total // 2)
        elif mode == "full":
            pads = (k_eff - 1, k_eff - 1)
        else:
            raise ValueError(f"unknown padding mode {padding!r}; expected one of {MODES}, an int, or a (lo, hi) pair")
    elif isinstance(padding, int) and not isinstance(padding, bool):
        pads = (padding, padding)
    elif _is_pair(padding):
        pads = (int(padding[0]), int(padding[1]))
    else:
        raise ValueError(f"invalid padding {padding!r}; expected one of {MODES}, an int, or a (lo, hi) pair of ints")
    if min(pads) < 0:
        raise ValueError(f"padding must be non-negative, got {pads}")
    if input_size + sum(pads) < k_eff:
        raise ValueError(
            f"output size would be < 1: input {input_size} + padding {pads} is smaller than the "
            f"effective kernel {k_eff} (kernel {kernel_size}, dilation {dilation})"
        )
    return pads


def conv_output_size(
    input_size: int, kernel_size: int, stride: int = 1, dilation: int = 1, padding: Padding = "valid"
) -> int:
    """Output size of one spatial dimension: ``floor((n + lo + hi - k_eff) / s) + 1``."""
    lo, hi = resolve_padding(padding, input_size, kernel_size, stride, dilation)
    return padded_output_size(input_size, kernel_size, stride, dilation, lo, hi)


def padded_output_size(input_size: int, kernel_size: int, stride: int, dilation: int, lo: int, hi: int) -> int:
    """``floor((n + lo + hi - k_eff) / s) + 1`` for explicit (possibly negative) padding, unchecked."""
    return (input_size + lo + hi - dilation * (kernel_size - 1) - 1) // stride + 1


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


def per_dim(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    """``value`` repeated for ``ndim`` dimensions if an int, else checked to have ``ndim`` ints."""
    values = (value,) * ndim if isinstance(value, int) else tuple(value)
    if len(values) != ndim:
        raise ValueError(f"{name} must be an int or {ndim} ints, got {value!r}")
    _check_positive(**{f"{name}[{i}]": v for i, v in enumerate(values)})
    return values


def resolve_padding_nd(
    padding: Padding,
    input_sizes: Sequence[int],
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """One ``(lo, hi)`` pair per spatial dimension.

    ``padding`` is a mode or int applied to every dimension, or a sequence with one per-dimension
    padding (mode, int or pair) for each dimension, e.g. ``((1, 1), (0, 2))``.
    """
    ndim = len(input_sizes)
    if len(kernel_sizes) != ndim or len(strides) != ndim or len(dilations) != ndim:
        raise ValueError(
            f"expected {ndim} kernel sizes, strides and dilations, got {kernel_sizes}, {strides}, {dilations}"
        )
    per_dim_given = (
        isinstance(padding, Sequence)
        and not isinstance(padding, str)
        and len(padding) == ndim
        and not all(isinstance(p, int) for p in padding)
    )
    if isinstance(padding, Sequence) and not isinstance(padding, str) and not per_dim_given:
        raise ValueError(
            f"explicit padding must give one entry per spatial dimension ({ndim}), "
            f"e.g. ((lo, hi), (lo, hi)); got {padding!r} (a flat sequence of ints is "
            "ambiguous: use an int for symmetric padding)"
        )
    paddings = padding if per_dim_given else (padding,) * ndim
    dims = zip(paddings, input_sizes, kernel_sizes, strides, dilations, strict=True)
    return tuple(resolve_padding(p, n, k, s, d) for p, n, k, s, d in dims)

"""``'xla'``: XLA's own convolution ops, the reference every other implementation equals.

Serves every call: forward convs of any rank, groups, padding and dilation
(``lax.conv_general_dilated``) and transposed convs of any rank (``lax.conv_transpose`` with
``transpose_kernel=True`` and pads ``(d * (k - 1) - p, d * (k - 1) - p + output_padding)``; see
:mod:`cnnjax.layers.transposed_conv` for the convention).
"""

from __future__ import annotations

from collections.abc import Sequence

from jax import lax

from cnnjax.layers.conv_call import FORWARD, ConvCall, Implementation, dimension_numbers


def xla_conv(x, kernel, strides: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups=1):
    """``lax.conv_general_dilated`` of channels-last ``x`` with a ``(*k, C_in // groups, features)`` kernel."""
    return lax.conv_general_dilated(
        x,
        kernel,
        strides,
        padding,
        rhs_dilation=dilation,
        feature_group_count=groups,
        dimension_numbers=dimension_numbers(x.ndim - 2),
    )


def _run(x, kernel, call: ConvCall):
    if call.direction == FORWARD:
        return xla_conv(x, kernel, call.strides, call.padding, call.dilation, call.groups)
    dims = zip(call.kernel_shape, call.padding, call.output_padding, call.dilation)
    pads = tuple((d * (k - 1) - p, d * (k - 1) - p + op) for k, (p, _), op, d in dims)
    return lax.conv_transpose(
        x,
        kernel,
        call.strides,
        pads,
        rhs_dilation=call.dilation,
        dimension_numbers=dimension_numbers(call.ndim, "OI"),
        transpose_kernel=True,
    )


XLA = Implementation("xla", why_not=lambda call: None, run=_run)

"""Which equations of a traced forward pass are layers (:func:`layer_op`), with their geometry and MACs.

A layer is recognised by what it computes, not by its module class.  On activations (values computed
from the model input):

- ``conv_general_dilated``: ``'conv'``, or ``'conv_transpose'`` where it dilates its input
  (``lhs_dilation > 1``, the form of every transposed conv).
- ``dot_general``: ``'dense'`` when the other operand is computed from the variables (a weight), else
  ``'matmul'`` (two activations, or an activation and a constant such as an interpolation matrix).
- ``reduce_window_*`` with a window or stride above 1 on a spatial axis: ``'max_pool'``, ``'avg_pool'``
  (a window sum; the division that makes it a mean is elementwise), ``'min_pool'`` or ``'pool'``.
  Windows over channels only (local response normalisation's sums) are not pooling.
- a ``reduce_sum`` / ``reduce_max`` over exactly the spatial axes: ``'global_avg_pool'`` /
  ``'global_max_pool'``; a reshape that merges the spatial axes away: ``'flatten'``; any other op that
  grows the spatial axes (a nearest-neighbour broadcast and reshape): ``'upsample'``.
- ``scan`` / ``while`` / ``cond`` and custom calls: one row each (kind: the primitive), whose body is
  neither expanded nor counted.

MACs (multiply-accumulates) count every kernel tap, padded ones included (the torchvision / fvcore
convention): a conv ``N * out_h * out_w * C_out * k_h * k_w * C_in / groups``; a transposed conv
``N * in_h * in_w * C_in * k_h * k_w * C_out / groups`` (every input pixel times the kernel); a
``dot_general`` the output size times the contracted size.  Pooling, normalisation and elementwise ops
count 0.  XLA's cost analysis skips taps on padding, so it finds fewer (~5 % at 32x32, ~16 % at 8x8).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from cnnjax.inspect.program import OPAQUE
from cnnjax.inspect.receptive_field import Field

POOLS = {"reduce_window_max": "max_pool", "reduce_window_sum": "avg_pool", "reduce_window_min": "min_pool"}
GLOBAL_POOLS = {"reduce_sum": "global_avg_pool", "reduce_max": "global_max_pool"}
OPAQUE_ROWS = OPAQUE | {"ffi_call", "custom_call"}  # one row each, body or callee not looked into
_NOT_RESAMPLING = frozenset({"pad", "slice", "dynamic_slice", "concatenate", "conv_general_dilated", "dot_general"})


class LayerOp(NamedTuple):
    """A layer's kind, geometry (per spatial axis, in the input's axis order) and multiply-accumulates."""

    kind: str
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    padding: tuple[tuple[int, int], ...] | None = None
    groups: int | None = None
    macs: int = 0


def layer_op(node, in_shapes, out_shape, from_input, from_variables, fields, out_field) -> LayerOp | None:
    """The layer ``node`` is, or None.  ``from_input[i]`` / ``from_variables[i]``: input i is computed
    from the model input / from the variables only; ``fields`` and ``out_field``: the receptive-field
    fields of the inputs (None where not an activation) and of the output."""
    if not any(from_input):
        return None
    primitive, params = node.primitive, node.params
    if primitive == "conv_general_dilated" and from_input[0]:
        return _conv(params, in_shapes, out_shape)
    if primitive == "dot_general":
        contracted = math.prod(in_shapes[0][a] for a in params["dimension_numbers"][0][0])
        kind = "dense" if any(from_variables) else "matmul"
        return LayerOp(kind, macs=math.prod(out_shape) * contracted)
    if primitive in POOLS or primitive == "reduce_window":
        return _pool(primitive, params, fields[0])
    if primitive in OPAQUE_ROWS:
        return LayerOp("custom_call" if primitive == "ffi_call" else primitive)
    spatial_in = _spatial_axes(fields[0]) if fields[0] is not None else []
    if not spatial_in or out_field is None:
        return None
    spatial_out = _spatial_axes(out_field)
    if primitive in GLOBAL_POOLS and set(params["axes"]) == set(spatial_in) and len(spatial_in) == len(fields[0]):
        return LayerOp(GLOBAL_POOLS[primitive])
    if primitive == "reshape" and not spatial_out:
        return LayerOp("flatten")
    if primitive in _NOT_RESAMPLING or len(spatial_out) != len(spatial_in):
        return None
    sizes_in = [in_shapes[0][a] for a in spatial_in]
    sizes_out = [out_shape[a] for a in spatial_out]
    if all(o >= i for i, o in zip(sizes_in, sizes_out)) and sizes_in != sizes_out:
        return LayerOp("upsample", stride=tuple(o // i for i, o in zip(sizes_in, sizes_out)))
    return None


def _spatial_axes(field: Field) -> list[int]:
    return [dim.axis for dim in field if dim.axis is not None]


def _conv(params, in_shapes, out_shape) -> LayerOp:
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    lhs, rhs = in_shapes
    kernel = tuple(rhs[a] for a in rhs_spec[2:])
    groups = params["feature_group_count"]
    dilation = tuple(params["rhs_dilation"])
    if any(d > 1 for d in params["lhs_dilation"]):
        # PyTorch's padding of the transposed conv: d (k - 1) - the pad of the equivalent forward conv
        padding = tuple(
            (r * (k - 1) - lo, r * (k - 1) - hi) for k, r, (lo, hi) in zip(kernel, dilation, params["padding"])
        )
        macs = math.prod(lhs) * math.prod(kernel) * out_shape[out_spec[1]] // groups
        return LayerOp("conv_transpose", kernel, tuple(params["lhs_dilation"]), dilation, padding, groups, macs)
    macs = math.prod(out_shape) * math.prod(kernel) * rhs[rhs_spec[1]]
    padding = tuple(tuple(p) for p in params["padding"])
    return LayerOp("conv", kernel, tuple(params["window_strides"]), dilation, padding, groups, macs)


def _pool(primitive: str, params, field: Field | None) -> LayerOp | None:
    if field is None:
        return None
    axes = _spatial_axes(field)
    window = tuple(params["window_dimensions"][a] for a in axes)
    stride = tuple(params["window_strides"][a] for a in axes)
    if all(w == 1 for w in window) and all(s == 1 for s in stride):
        return None
    return LayerOp(
        POOLS.get(primitive, "pool"),
        kernel=window,
        stride=stride,
        dilation=tuple(params["window_dilation"][a] for a in axes),
        padding=tuple(tuple(params["padding"][a]) for a in axes),
    )

"""Receptive field and jump (effective stride) of every activation, propagated equation by equation.

Each activation carries a :data:`Field`: one :class:`SpatialDim` per spatial axis of the model input
(channels-last input ``(N, *spatial, C)``), saying where that axis now lies (``axis``; ``None`` once it
is reduced or merged away), the receptive field ``rf`` and the ``jump`` (the distance in input pixels
between neighbouring outputs), both exact fractions.  Rules:

- A window op (conv, transposed conv, pooling; any ``lhs_dilation`` / ``base_dilation`` ``b``, window
  dilation ``d``, ``k`` taps, stride ``s``): ``rf_out = rf_in + span * jump_in`` and
  ``jump_out = jump_in * s / b``, where ``span`` is the largest distance, in input elements, between two
  taps of one window that fall on input elements (not on the zeros a dilated input inserts).  A forward
  conv has ``span = d (k - 1)``: two 3x3 convs give 5, a stride-2 conv doubles the jump; a 4x4 stride-2
  transposed conv has ``span = 1`` and halves the jump.
- Elementwise ops, concatenations and residual adds take, per axis, the largest ``rf`` and ``jump`` of
  their activation inputs that extend over the spatial axes: a value broadcast over them (a norm's batch
  or instance statistics, a squeeze-excitation gate) does not widen the receptive field, as in the usual
  layer arithmetic.  Padding and cropping keep both; a strided slice multiplies the jump.
- A reduction over a spatial axis of size ``n``, a reshape that merges it with another spatial axis
  (flatten), and a contraction over it (a ``dot_general``, e.g. an interpolation matrix) act as one
  window over the whole axis: ``rf += (n - 1) * jump``, ``jump *= n``, and the axis is gone.
- A reshape that merges a spatial axis with the non-spatial axes after it (nearest upsampling,
  depth-to-space) divides the jump by their size; one that splits it (space-to-depth) keeps the
  outer part as the axis, the inner part as a window.
- Any other op passes on the fields of its activation inputs whose spatial axes keep their places and
  sizes in its output (a channel split, a gather over channels), or else turns every spatial axis into a
  window over the whole axis.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

WINDOW_OPS = frozenset({"reduce_window_max", "reduce_window_min", "reduce_window_sum", "reduce_window"})
REDUCTIONS = frozenset(
    {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "argmax", "argmin"}
)


class SpatialDim(NamedTuple):
    """Where one spatial axis of the model input lies in an array, and its receptive field and jump."""

    axis: int | None  # None: reduced or merged away
    rf: Fraction
    jump: Fraction

    def window(self, taps: int, stride: int = 1, base_dilation: int = 1, window_dilation: int = 1) -> SpatialDim:
        """After a window of ``taps`` taps (module docstring); the axis stays where it is."""
        span = window_span(taps, window_dilation, base_dilation)
        return SpatialDim(self.axis, self.rf + span * self.jump, self.jump * stride / base_dilation)

    def collapse(self, size: int) -> SpatialDim:
        """After one window over the whole axis of ``size`` elements; the axis is gone."""
        if self.axis is None:
            return self
        return SpatialDim(None, self.rf + (size - 1) * self.jump, self.jump * size)

    def moved(self, axis: int | None) -> SpatialDim:
        return self._replace(axis=axis)


Field = tuple[SpatialDim, ...]


def input_field(ndim: int) -> Field:
    """The model input's field: spatial axes ``1 .. ndim - 2``, receptive field 1, jump 1."""
    return tuple(SpatialDim(axis, Fraction(1), Fraction(1)) for axis in range(1, ndim - 1))


def window_span(taps: int, window_dilation: int = 1, base_dilation: int = 1) -> int:
    """The largest distance, in input elements, between two taps of one window that fall on input elements
    (a base dilation ``b`` puts input elements at every ``b``-th position; the window may start anywhere)."""
    best = 0
    for offset in range(base_dilation):
        hits = [t * window_dilation for t in range(taps) if (t * window_dilation + offset) % base_dilation == 0]
        if len(hits) > 1:
            best = max(best, (hits[-1] - hits[0]) // base_dilation)
    return best


def merge(fields: list[Field]) -> Field:
    """Per axis, the largest receptive field and jump of ``fields`` (the axis where they all agree)."""
    merged = []
    for dims in zip(*fields):
        axes = {dim.axis for dim in dims}
        axis = axes.pop() if len(axes) == 1 else None
        merged.append(SpatialDim(axis, max(dim.rf for dim in dims), max(dim.jump for dim in dims)))
    return tuple(merged)


def propagate(primitive: str, params: dict, in_shapes: list[tuple], fields: list[Field | None], out_shape) -> Field:
    """The field of the output of ``primitive`` (``params``) on inputs of ``in_shapes`` with ``fields``
    (``None``: not an activation; at least one is one), by the module docstring's rules."""
    rule = _RULES.get(primitive)
    if rule is not None:
        field = rule(params, in_shapes, fields, out_shape)
        if field is not None:
            return field
    same = [(f, shape) for f, shape in zip(fields, in_shapes) if f is not None and _same_spatial(f, shape, out_shape)]
    placed = [f for f, shape in same if any(dim.axis is not None and shape[dim.axis] > 1 for dim in f)]
    if placed or same:
        return merge(placed or [f for f, _ in same])
    field, shape = next((f, s) for f, s in zip(fields, in_shapes) if f is not None)
    return _remap(field, shape, gone=range(len(shape)))


def _same_spatial(field: Field, shape, out_shape) -> bool:
    """``out_shape`` has ``shape``'s rank and its sizes on every spatial axis that ``field`` places."""
    return len(shape) == len(out_shape) and all(
        dim.axis is None or shape[dim.axis] == out_shape[dim.axis] for dim in field
    )


def _conv(params, in_shapes, fields, out_shape):
    field = fields[0]
    if field is None:
        return None
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    kernel = in_shapes[1]
    position = {axis: i for i, axis in enumerate(lhs_spec[2:])}
    dims = []
    for dim in field:
        if dim.axis is None:
            dims.append(dim)
            continue
        if dim.axis not in position:  # a spatial axis used as batch or feature axis
            dims.append(dim.collapse(in_shapes[0][dim.axis]))
            continue
        i = position[dim.axis]
        stepped = dim.window(
            kernel[rhs_spec[2 + i]], params["window_strides"][i], params["lhs_dilation"][i], params["rhs_dilation"][i]
        )
        dims.append(stepped.moved(out_spec[2 + i]))
    return tuple(dims)


def _reduce_window(params, in_shapes, fields, out_shape):
    field = fields[0]
    if field is None:
        return None
    names = ("window_dimensions", "window_strides", "base_dilation", "window_dilation")
    per_axis = list(zip(*(params[name] for name in names)))
    return tuple(dim if dim.axis is None else dim.window(*per_axis[dim.axis]) for dim in field)


def _remap(field: Field, shape, gone=(), where=lambda axis: axis) -> Field:
    """``field`` after an op that reduces or contracts the axes ``gone`` of ``shape`` (each a window over the
    whole axis) and moves every other axis ``a`` to ``where(a)``."""
    return tuple(
        dim if dim.axis is None else dim.collapse(shape[dim.axis]) if dim.axis in gone else dim.moved(where(dim.axis))
        for dim in field
    )


def _reduce(params, in_shapes, fields, out_shape):
    axes = tuple(params["axes"])
    return _remap(fields[0], in_shapes[0], axes, lambda axis: axis - sum(a < axis for a in axes))


def reshape_groups(in_shape, out_shape) -> list[tuple[list[int], list[int]]]:
    """Consecutive input axes and output axes of equal product, paired: ``(2, 3, 4) -> (6, 4)`` gives
    ``[([0, 1], [0]), ([2], [1])]``.  Each group starts with one axis of each side (where any is left)."""
    groups, i, j = [], 0, 0
    while i < len(in_shape) or j < len(out_shape):
        group_in, group_out, size_in, size_out = [], [], 1, 1
        while not group_in and i < len(in_shape) or not group_out and j < len(out_shape) or size_in != size_out:
            if i < len(in_shape) and (not group_in or size_in < size_out or j == len(out_shape)):
                size_in *= in_shape[i]
                group_in.append(i)
                i += 1
            else:
                size_out *= out_shape[j]
                group_out.append(j)
                j += 1
        groups.append((group_in, group_out))
    return groups


def _reshape(params, in_shapes, fields, out_shape):
    field, shape = fields[0], in_shapes[0]
    if params.get("dimensions") is not None:
        return None
    spatial = {dim.axis for dim in field if dim.axis is not None}
    where = {}
    for group_in, group_out in reshape_groups(tuple(shape), tuple(out_shape)):
        for axis in group_in:
            where[axis] = (group_in, group_out)
    dims = []
    for dim in field:
        if dim.axis is None:
            dims.append(dim)
            continue
        group_in, group_out = where[dim.axis]
        real_in = [a for a in group_in if shape[a] != 1]
        real_out = [a for a in group_out if out_shape[a] != 1]
        if real_in == [dim.axis] and len(real_out) == 1:
            dims.append(dim.moved(real_out[0]))
        elif real_in == [dim.axis] and real_out:  # split: outer part is the axis, inner a window
            inner = math.prod(out_shape[a] for a in real_out[1:])
            dims.append(SpatialDim(real_out[0], dim.rf + (inner - 1) * dim.jump, dim.jump * inner))
        elif real_in and real_in[0] == dim.axis and len(real_out) == 1 and not spatial & set(real_in[1:]):
            finer = math.prod(shape[a] for a in real_in[1:])  # merged with the non-spatial axes after it
            dims.append(SpatialDim(real_out[0], dim.rf, dim.jump / finer))
        else:
            dims.append(dim.collapse(shape[dim.axis]))
    return tuple(dims)


def _transpose(params, in_shapes, fields, out_shape):
    return _remap(fields[0], in_shapes[0], where=list(params["permutation"]).index)


def _broadcast_in_dim(params, in_shapes, fields, out_shape):
    return _remap(fields[0], in_shapes[0], where=params["broadcast_dimensions"].__getitem__)


def _squeeze(params, in_shapes, fields, out_shape):
    return _reduce({"axes": params["dimensions"]}, in_shapes, fields, out_shape)


def _concatenate(params, in_shapes, fields, out_shape):
    return merge([f for f in fields if f is not None])


def _pad(params, in_shapes, fields, out_shape):
    field = fields[0]
    if field is None:
        return None
    config = params["padding_config"]
    return tuple(dim if dim.axis is None else dim._replace(jump=dim.jump / (config[dim.axis][2] + 1)) for dim in field)


def _slice(params, in_shapes, fields, out_shape):
    strides = params.get("strides")
    field = fields[0]
    if strides is None:
        return field
    return tuple(dim if dim.axis is None else dim._replace(jump=dim.jump * strides[dim.axis]) for dim in field)


def _dot_general(params, in_shapes, fields, out_shape):
    (contract_l, contract_r), (batch_l, batch_r) = params["dimension_numbers"]
    rank_l, rank_r = len(in_shapes[0]), len(in_shapes[1])
    free_l = [a for a in range(rank_l) if a not in contract_l and a not in batch_l]
    free_r = [a for a in range(rank_r) if a not in contract_r and a not in batch_r]
    placed = []
    for side, (field, shape) in enumerate(zip(fields, in_shapes)):
        if field is None:
            continue
        contract, batch, free = (contract_l, batch_l, free_l) if side == 0 else (contract_r, batch_r, free_r)
        offset = len(batch) + (0 if side == 0 else len(free_l))

        def where(axis, batch=batch, free=free, offset=offset):
            return list(batch).index(axis) if axis in batch else offset + free.index(axis)

        placed.append(_remap(field, shape, contract, where))
    return merge(placed)


_RULES = {
    "conv_general_dilated": _conv,
    **dict.fromkeys(WINDOW_OPS, _reduce_window),
    **dict.fromkeys(REDUCTIONS, _reduce),
    "reshape": _reshape,
    "transpose": _transpose,
    "broadcast_in_dim": _broadcast_in_dim,
    "squeeze": _squeeze,
    "concatenate": _concatenate,
    "pad": _pad,
    "slice": _slice,
    "dot_general": _dot_general,
}

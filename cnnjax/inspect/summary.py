"""Per-layer table of any flax linen module (:func:`summary`), derived from its traced forward pass.

One :class:`LayerRow` per layer that the trace shows (:mod:`~cnnjax.inspect.layer_ops`,
:mod:`~cnnjax.inspect.normalization`): convs, transposed convs, dense layers, pooling, normalisation, and
functional ops that change the shape (``nn.max_pool``, a global mean, a flatten, an upsampling).  Nothing
is compiled or run; every conv is traced on XLA (:mod:`~cnnjax.inspect.trace`).  Rules:

- ``path``: the module path of the layer's module call (``'stage1/block0/conv1'``).  A conv, dense or
  norm row takes its module's own parameters (the first such row of the module; later calls of a shared
  module count 0) and its module's path; any other row is named ``module path / kind``, numbered
  ``_0, _1 ...`` where a name repeats (``'avg_pool_0'``).  A module whose parameters no row takes gets a
  row of kind ``'other'`` at its last equation (a learned scale), or ``'unused'`` at the end when the
  traced pass never calls it (an auxiliary head in inference), so the rows' parameters sum to the total.
- Everything is for the traced batch (``batch`` images, default 1): ``macs`` (every kernel tap counted,
  :mod:`~cnnjax.inspect.layer_ops`), ``activation_bytes`` (the output at its traced dtype, the compute
  dtype), the totals' activation peaks (:mod:`~cnnjax.inspect.memory`).
- ``receptive_field`` / ``jump``: per spatial axis of the input, in input pixels
  (:mod:`~cnnjax.inspect.receptive_field`); ``jump`` is ``None`` for an axis that is pooled or flattened away.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.inspect import trace
from cnnjax.inspect.layer_ops import LayerOp
from cnnjax.inspect.layer_walk import FoundLayer, walk
from cnnjax.inspect.memory import inference_peak_bytes, saved_bytes, value_bytes

PARAMETRIC = frozenset({"conv", "conv_transpose", "dense", "norm"})
_OTHER, _UNUSED = LayerOp("other"), LayerOp("unused")


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One layer.  Geometry (``kernel``, ``stride``, ``dilation``, ``padding`` as ``(low, high)`` pairs,
    ``groups``) is per spatial axis where the kind has it, else ``None``; a transposed conv's stride is its
    upsampling factor and its padding PyTorch's.  Shapes and counts are for the traced batch."""

    path: str
    kind: str
    kernel: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    dilation: tuple[int, ...] | None
    padding: tuple[tuple[int, int], ...] | None
    groups: int | None
    output_shape: tuple[int, ...]
    dtype: str
    params: int
    macs: int
    activation_bytes: int
    receptive_field: tuple[int | float, ...]
    jump: tuple[int | float | None, ...]


@dataclasses.dataclass(frozen=True)
class Totals:
    """Whole-model figures: every parameter (``params``, ``param_bytes``), the rows' MACs, and the
    activation peaks of an inference pass and of a training step (:mod:`~cnnjax.inspect.memory`)."""

    params: int
    param_bytes: int
    macs: int
    inference_peak_bytes: int
    training_peak_bytes: int


@dataclasses.dataclass(frozen=True)
class Summary:
    """The rows in program order, the totals, and the traced input's shape and dtype."""

    rows: tuple[LayerRow, ...]
    totals: Totals
    input_shape: tuple[int, ...]
    input_dtype: str


def summary(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch: int = 1,
    input_dtype=jnp.float32,
    train_kwargs: dict | None = None,
    **apply_kwargs,
) -> Summary:
    """The per-layer table of ``model.apply(variables, x, **apply_kwargs)`` for ``x`` of shape
    ``(batch, *input_shape)`` (channels last) and the variables ``model.init`` makes for it.

    The training peak traces ``model.apply(..., **train_kwargs)`` (default: ``apply_kwargs``), e.g.
    ``summary(model, (32, 32, 3), train=False, train_kwargs={'train': True})`` for a cnnjax model."""
    x = jax.ShapeDtypeStruct((batch, *input_shape), jnp.dtype(input_dtype))
    model = trace.on_xla(model)
    variables = trace.abstract_variables(model, x, apply_kwargs)
    program, module_paths = trace.forward_program(model, variables, x, apply_kwargs)
    *variable_values, input_value = program.inputs
    found = walk(program, input_value, variable_values)
    params = variables.get("params", {})
    rows = _rows(found, program, module_paths, _own_parameters(params))
    residuals = trace.residual_program(model, variables, x, apply_kwargs if train_kwargs is None else train_kwargs)
    leaves = jax.tree.leaves(params)
    totals = Totals(
        params=sum(math.prod(leaf.shape) for leaf in leaves),
        param_bytes=sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in leaves),
        macs=sum(row.macs for row in rows),
        inference_peak_bytes=inference_peak_bytes(program, found),
        training_peak_bytes=saved_bytes(residuals, residuals.inputs[-1]),
    )
    return Summary(tuple(rows), totals, tuple(x.shape), x.dtype.name)


def _own_parameters(params, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """``{module path: number of parameters it holds itself}`` (its submodules' not included)."""
    counts = {}
    own = 0
    for name, value in params.items():
        if isinstance(value, Mapping):
            counts.update(_own_parameters(value, (*path, name)))
        else:
            own += math.prod(value.shape)
    if own:
        counts[path] = own
    return counts


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _rows(found, program, module_paths, own_parameters: dict) -> list[LayerRow]:
    entries = [(layer, module_paths[layer.call] if layer.call is not None else ()) for layer in found.layers]
    claimed: dict[tuple[str, ...], int] = {}  # module path -> the entry that holds its parameters
    for i, (layer, path) in enumerate(entries):
        if layer.op.kind in PARAMETRIC and path in own_parameters:
            claimed.setdefault(path, i)
    last_node = {module_paths[node.call]: index for index, node in enumerate(program.nodes) if node.call is not None}
    for path in sorted(own_parameters.keys() - claimed.keys()):
        index = last_node.get(path)
        if index is None:
            layer = FoundLayer(len(program.nodes), _UNUSED, None, None, ())
        else:
            layer = FoundLayer(index, _OTHER, program.nodes[index].outputs[0], None, ())
        claimed[path] = len(entries)
        entries.append((layer, path))
    names = _names([layer.op.kind for layer, _ in entries], [path for _, path in entries], claimed)
    rows = []
    for i in sorted(range(len(entries)), key=lambda i: entries[i][0].node):
        (layer, path), op = entries[i], entries[i][0].op
        aval = program.avals.get(layer.output)
        field = found.fields.get(layer.output, ())
        rows.append(
            LayerRow(
                path=names[i],
                kind=op.kind,
                kernel=op.kernel,
                stride=op.stride,
                dilation=op.dilation,
                padding=op.padding,
                groups=op.groups,
                output_shape=tuple(aval.shape) if aval is not None else (),
                dtype=aval.dtype.name if aval is not None else "",
                params=own_parameters[path] if claimed.get(path) == i else 0,
                macs=op.macs,
                activation_bytes=value_bytes(program, layer.output) if aval is not None else 0,
                receptive_field=tuple(_number(dim.rf) for dim in field),
                jump=tuple(None if dim.axis is None else _number(dim.jump) for dim in field),
            )
        )
    return rows


def _names(kinds: list[str], paths: list[tuple[str, ...]], claimed: dict) -> list[str]:
    """Row names by the module docstring's rule."""
    holds = [claimed.get(path) == i for i, path in enumerate(paths)]
    bases = ["/".join(path if held else (*path, kind)) for kind, path, held in zip(kinds, paths, holds)]
    taken = {base for base, held in zip(bases, holds) if held}
    repeats = collections.Counter(base for base, held in zip(bases, holds) if not held)
    names, seen = [], collections.Counter()
    for base, held in zip(bases, holds):
        if held or (repeats[base] == 1 and base not in taken):
            names.append(base or "(root)")
        else:
            names.append(f"{base}_{seen[base]}")
            seen[base] += 1
    return names

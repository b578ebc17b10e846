"""Normalisation layers found by what they compute: an activation divided by a statistic's root or power.

Rules, for any module or function (batch, layer, group, instance norm; local response normalisation):

- A *statistic* is an ``rsqrt``, ``sqrt`` or ``pow`` of a non-constant value (running or batch
  variance, window sums of squares).  The reductions it is computed from, reached backwards through
  pointwise and shape-only ops, are *statistic reductions*: never a global pooling layer.
- A value is *reduced* where it is computed by a statistic reduction, or by pointwise / shape-only ops
  from reduced activations only (a mean, a variance, their reciprocal roots).
- The layer's output is the first activation computed from the statistic that is not reduced (the
  normalised activation), then each same-size pointwise or shape-only result of the same module call
  computed from it (scale, shift, the reshape back of a group norm).
"""

from __future__ import annotations

import dataclasses
import math

from cnnjax.inspect.receptive_field import REDUCTIONS

STATISTICS = frozenset({"rsqrt", "sqrt", "pow"})
SHAPE_ONLY = frozenset({"reshape", "broadcast_in_dim", "squeeze", "convert_element_type", "copy", "copy_p"})


def is_pointwise(in_shapes: list[tuple], out_shape: tuple) -> bool:
    """Every input broadcasts elementwise to ``out_shape`` (same rank or a scalar; equal sizes or 1)."""
    for shape in in_shapes:
        if len(shape) == 0:
            continue
        if len(shape) != len(out_shape) or any(s not in (1, o) for s, o in zip(shape, out_shape)):
            return False
    return True


def _passes_statistics(node, in_shapes, out_shape) -> bool:
    return node.primitive in SHAPE_ONLY or is_pointwise(in_shapes, out_shape)


@dataclasses.dataclass
class Norm:
    """One normalisation: once found, the node that computes its output, the output value and the module call."""

    node: int | None = None
    output: int | None = None
    call: int | None = None


class NormFinder:
    """Walks a program's nodes in order (:meth:`step`) and collects its normalisations (:attr:`norms`)."""

    def __init__(self, program, non_constant: set[int], from_input: set[int], producers: dict[int, int]):
        self.program, self.from_input, self.non_constant = program, from_input, non_constant
        self.norms: list[Norm] = []
        self._tags: dict[int, frozenset[int]] = {}  # value -> norms whose output is still to be found
        self._reduced: set[int] = set()
        self._open: dict[int, Norm] = {}  # output value -> its norm, while its module call goes on
        self.statistic_reductions = self._statistic_reductions(non_constant, producers)

    def _shapes(self, node):
        return [() if v is None else self.program.avals[v].shape for v in node.inputs]

    def _statistic_reductions(self, non_constant, producers) -> set[int]:
        found, seen = set(), set()
        stack = [
            node.inputs[0]
            for node in self.program.nodes
            if node.primitive in STATISTICS and node.inputs[0] in non_constant
        ]
        while stack:
            value = stack.pop()
            if value is None or value in seen or value not in producers:
                continue
            seen.add(value)
            index = producers[value]
            node = self.program.nodes[index]
            if node.primitive in REDUCTIONS:
                found.add(index)
            elif _passes_statistics(node, self._shapes(node), self.program.avals[value].shape):
                stack.extend(v for v in node.inputs if v in non_constant)
        return found

    def step(self, index: int, node, is_layer: bool) -> None:
        """Follows ``node`` (the ``index``-th); ``is_layer``: it is a layer of another kind."""
        shapes = self._shapes(node)
        passes = not is_layer and _passes_statistics(node, shapes, self.program.avals[node.outputs[0]].shape)
        active = [v for v in node.inputs if v in self.from_input]
        if index in self.statistic_reductions or passes and active and all(v in self._reduced for v in active):
            self._reduced.update(node.outputs)
        tags = frozenset(tag for v in node.inputs for tag in self._tags.get(v, ()) if self.norms[tag].node is None)
        if node.primitive in STATISTICS and node.inputs[0] in self.non_constant:
            self.norms.append(Norm())
            tags |= {len(self.norms) - 1}
        self._extend_open(node, passes)
        output = node.outputs[0]
        if tags and passes and output in self.from_input and output not in self._reduced:
            for tag in tags:
                norm = self.norms[tag]
                norm.node, norm.output, norm.call = index, output, node.call
                self._open[output] = norm
            tags = frozenset()
        if tags:
            self._tags.update(dict.fromkeys(node.outputs, tags))

    def _extend_open(self, node, passes: bool) -> None:
        """Moves an open norm's output to ``node``'s result when it continues the norm (module docstring)."""
        if not passes:
            return
        output = node.outputs[0]
        size = math.prod(self.program.avals[output].shape)
        for value in node.inputs:
            norm = self._open.get(value)
            if norm is not None and norm.call == node.call and math.prod(self.program.avals[value].shape) == size:
                del self._open[value]
                norm.output = output
                self._open[output] = norm
                return

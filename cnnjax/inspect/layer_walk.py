"""One pass over a traced forward program: every activation's receptive-field field and every layer.

Layers are :func:`~cnnjax.inspect.layer_ops.layer_op`'s (one node each) and
:mod:`~cnnjax.inspect.normalization`'s (a statistic and the nodes that apply it), in program order.
"""

from __future__ import annotations

import dataclasses

from cnnjax.inspect.layer_ops import LayerOp, layer_op
from cnnjax.inspect.normalization import NormFinder
from cnnjax.inspect.program import Program, descendants, producers
from cnnjax.inspect.receptive_field import Field, input_field, propagate


@dataclasses.dataclass(frozen=True)
class FoundLayer:
    """A layer: where it is computed (``node``, module ``call``), what it is, its output value (None: no
    output, a module never called) and the activation values it reads."""

    node: int
    op: LayerOp
    output: int | None
    call: int | None
    reads: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Walk:
    layers: tuple[FoundLayer, ...]
    fields: dict[int, Field]  # activation value -> its receptive-field field
    from_input: set[int]  # the activations: values computed from the model input


def walk(program: Program, input_value: int, variable_values) -> Walk:
    """Finds the layers of ``program``, whose input ``input_value`` is the channels-last model input and
    ``variable_values`` the variables' leaves."""
    from_input = descendants(program, [input_value])
    from_variables = descendants(program, variable_values) - from_input
    norms = NormFinder(program, from_input | from_variables, from_input, producers(program))
    fields = {input_value: input_field(len(program.avals[input_value].shape))}
    layers = []
    for index, node in enumerate(program.nodes):
        shapes = [() if v is None else program.avals[v].shape for v in node.inputs]
        in_fields = [fields.get(v) for v in node.inputs]
        op = None
        if any(field is not None for field in in_fields):
            for value in node.outputs:
                fields[value] = propagate(node.primitive, node.params, shapes, in_fields, program.avals[value].shape)
            output = node.outputs[0]
            if index not in norms.statistic_reductions:  # a mean or variance of a norm is no pooling layer
                op = layer_op(
                    node,
                    shapes,
                    program.avals[output].shape,
                    [v in from_input for v in node.inputs],
                    [v in from_variables for v in node.inputs],
                    in_fields,
                    fields[output],
                )
            if op is not None:
                reads = tuple(v for v in node.inputs if v in from_input)
                layers.append(FoundLayer(index, op, output, node.call, reads))
        norms.step(index, node, is_layer=op is not None)
    found = {norm.node: norm for norm in norms.norms if norm.node is not None}
    for norm in found.values():
        layers.append(FoundLayer(norm.node, LayerOp("norm"), norm.output, norm.call, ()))
    layers.sort(key=lambda layer: layer.node)
    return Walk(tuple(layers), fields, from_input)

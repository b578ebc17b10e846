"""Activation memory of a traced model: the inference peak and what a training step saves for its backward pass.

Activations are the values computed from the model input (the input included), at their traced dtype
(the compute dtype); parameters, optimizer state and constants are not activations.  Definitions:

- Inference peak (:func:`inference_peak_bytes`): the model's input and outputs, the layers' outputs (but a
  norm's, which is pointwise) and the inputs of convs and dense layers are *materialised*; pointwise
  work between them is fused, as XLA does, and keeps the materialised values it reads alive until it
  runs.  A materialised value lives from the equation that computes it to the last equation that reads
  it, directly or through fused work, in program order; fused pointwise work writes its result in place
  of a value of the same size that dies there (BatchNorm + ReLU over a conv's output).  The peak is the
  largest total of the buffers alive at one equation.
- Training (:func:`saved_bytes`): the activations reverse-mode differentiation of the model in train
  mode saves for the backward pass (``jax.vjp``'s residuals with respect to the parameters), each
  counted once.  They are all alive where the forward pass turns into the backward pass, where a training
  step's activation memory peaks.  A compiled step differs by what XLA recomputes instead of saving and by
  its gradient buffers.
"""

from __future__ import annotations

import math

from cnnjax.inspect.layer_walk import Walk
from cnnjax.inspect.program import Program, descendants


def value_bytes(program: Program, value: int) -> int:
    aval = program.avals[value]
    return math.prod(aval.shape) * aval.dtype.itemsize


def inference_peak_bytes(program: Program, found: Walk) -> int:
    """The inference peak (module docstring) of ``program``, whose layers ``found`` are."""
    outputs = {layer.output for layer in found.layers if layer.op.kind != "norm"}
    materialised = {*program.inputs, *program.outputs, *outputs} & found.from_input
    materialised |= {value for layer in found.layers if layer.op.macs for value in layer.reads}
    return peak_live_bytes(program, found.from_input, materialised, materialised - outputs)


def peak_live_bytes(program: Program, from_input: set[int], materialised: set[int], in_place: set[int]) -> int:
    """The largest total of ``materialised`` values alive at one equation of ``program`` (module
    docstring); one of ``in_place`` (a result of fused pointwise work) reuses the buffer of a value it
    reads that dies there and has its size."""
    born = {value: -1 for value in program.inputs if value in from_input}
    roots: dict[int, frozenset[int]] = {value: frozenset({value}) for value in born}
    last: dict[int, int] = dict(born)
    reads_of: dict[int, frozenset[int]] = {}
    for index, node in enumerate(program.nodes):
        reads = frozenset().union(*(roots.get(v, frozenset()) for v in node.inputs if v in from_input))
        for root in reads:
            last[root] = index
        for value in node.outputs:
            if value not in from_input:
                continue
            if value in materialised:
                born[value] = last[value] = index
                roots[value] = frozenset({value})
                reads_of[value] = reads
            else:
                roots[value] = reads
    end = len(program.nodes)
    for value in program.outputs:
        for root in roots.get(value, ()):
            last[root] = end
    buffer_of = {value: value for value in born}  # value -> the value whose buffer it occupies
    for value in sorted(in_place & born.keys(), key=born.get):
        size = value_bytes(program, value)
        for read in sorted(reads_of.get(value, ())):
            owner = buffer_of[read]
            if last[read] == born[value] and value_bytes(program, read) == size and last[owner] == born[value]:
                buffer_of[value] = owner
                last[owner] = last[value]
                break
    changes: dict[int, int] = {}
    for value, start in born.items():
        if buffer_of[value] != value:
            continue
        size = value_bytes(program, value)
        changes[start] = changes.get(start, 0) + size
        changes[last[value] + 1] = changes.get(last[value] + 1, 0) - size
    peak = live = 0
    for step in sorted(changes):
        live += changes[step]
        peak = max(peak, live)
    return peak


def saved_bytes(program: Program, input_value: int) -> int:
    """Bytes of ``program``'s distinct outputs computed from its input ``input_value`` (the residuals of
    :func:`cnnjax.inspect.trace.residual_program`)."""
    from_input = descendants(program, [input_value])
    return sum(value_bytes(program, v) for v in set(program.outputs) if v is not None and v in from_input)

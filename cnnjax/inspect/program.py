"""A traced function as one flat list of equations (:class:`Program`), every call-like sub-jaxpr inlined.

Rules:

- Values are numbered; an equation's inputs and outputs are value ids (``None``: a literal).  Inlining
  renames a sub-jaxpr's values into the caller's, so a value keeps one id across call boundaries
  (``jit``, ``custom_jvp_call``, ``custom_vjp_call``, ``checkpoint``, ``closed_call``: any equation
  with exactly one sub-jaxpr whose inputs and outputs line up with its own).
- Loops and conditionals (``scan``, ``while``, ``cond``) stay single opaque nodes: their bodies are
  not inlined, since one pass over a body is not the computation.
- Equations no output depends on are dropped, as XLA drops them.
- Each node carries the innermost module call it was traced in: the index of the last
  :data:`MARKER` scope on its name stack (outer stacks included), ``None`` outside every marker.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

from jax.extend.core import ClosedJaxpr, Jaxpr, Literal

MARKER = "cnnjax_summary_call_"
OPAQUE = frozenset({"scan", "while", "cond"})
_MARKER_RE = re.compile(MARKER + r"(\d+)")


@dataclasses.dataclass(frozen=True)
class Node:
    """One equation: ``primitive`` applied to values ``inputs`` (``None``: a literal) giving ``outputs``."""

    primitive: str
    params: dict
    inputs: tuple[int | None, ...]
    outputs: tuple[int, ...]
    call: int | None  # innermost module call (see the module docstring)


@dataclasses.dataclass(frozen=True)
class Program:
    """The inlined equations in program order; ``avals[value]`` is each value's ``ShapedArray``."""

    nodes: tuple[Node, ...]
    avals: dict[int, object]
    inputs: tuple[int, ...]  # the traced function's flattened arguments
    outputs: tuple[int | None, ...]  # its flattened results (None: a literal)


def flatten(closed: ClosedJaxpr) -> Program:
    """``closed`` (from ``jax.make_jaxpr``) as a :class:`Program`, without dead equations (:func:`prune`);
    its consts become values that no node computes."""
    builder = _Builder()
    names = {}
    for var in (*closed.jaxpr.constvars, *closed.jaxpr.invars):
        names[var] = builder.new(var.aval)
    inputs = tuple(names[var] for var in closed.jaxpr.invars)
    outputs = builder.inline(closed.jaxpr, names, None)
    return prune(Program(tuple(builder.nodes), builder.avals, inputs, outputs))


def _sub_jaxpr(eqn) -> Jaxpr | None:
    """The one sub-jaxpr of a call-like equation whose inputs and outputs line up with its own, else None."""
    if eqn.primitive.name in OPAQUE:
        return None
    subs = [
        p.jaxpr if isinstance(p, ClosedJaxpr) else p for p in eqn.params.values() if isinstance(p, Jaxpr | ClosedJaxpr)
    ]
    if len(subs) != 1 or len(subs[0].invars) != len(eqn.invars) or len(subs[0].outvars) != len(eqn.outvars):
        return None
    return subs[0]


def _call_of(eqn, outer: int | None) -> int | None:
    found = _MARKER_RE.findall(str(eqn.source_info.name_stack))
    return int(found[-1]) if found else outer


class _Builder:
    def __init__(self):
        self.nodes: list[Node] = []
        self.avals: dict[int, object] = {}
        self._ids = itertools.count()

    def new(self, aval) -> int:
        value = next(self._ids)
        self.avals[value] = aval
        return value

    def inline(self, jaxpr: Jaxpr, names: dict, call: int | None) -> tuple[int | None, ...]:
        """Appends ``jaxpr``'s equations (its inputs already named in ``names``); returns its outputs' ids."""

        def read(atom):
            return None if isinstance(atom, Literal) else names[atom]

        for eqn in jaxpr.eqns:
            eqn_call = _call_of(eqn, call)
            sub = _sub_jaxpr(eqn)
            if sub is not None:
                inner = {var: read(atom) for var, atom in zip(sub.invars, eqn.invars)}
                for var in sub.constvars:
                    inner[var] = self.new(var.aval)
                results = self.inline(sub, inner, eqn_call)
                for var, result in zip(eqn.outvars, results):
                    names[var] = self.new(var.aval) if result is None else result
                continue
            for var in eqn.outvars:
                names[var] = self.new(var.aval)
            inputs = tuple(read(atom) for atom in eqn.invars)
            self.nodes.append(
                Node(eqn.primitive.name, eqn.params, inputs, tuple(names[v] for v in eqn.outvars), eqn_call)
            )
        return tuple(read(atom) for atom in jaxpr.outvars)


def descendants(program: Program, sources) -> set[int]:
    """The values computed from any of ``sources`` (``sources`` included)."""
    found = set(sources)
    for node in program.nodes:
        if any(value in found for value in node.inputs):
            found.update(node.outputs)
    return found


def producers(program: Program) -> dict[int, int]:
    """``{value: index of the node that computes it}``."""
    return {value: index for index, node in enumerate(program.nodes) for value in node.outputs}


def prune(program: Program) -> Program:
    """``program`` without the nodes none of its outputs depends on (features a model computes and drops)."""
    needed = {value for value in program.outputs if value is not None}
    kept = []
    for node in reversed(program.nodes):
        if any(value in needed for value in node.outputs):
            kept.append(node)
            needed.update(value for value in node.inputs if value is not None)
    return dataclasses.replace(program, nodes=tuple(reversed(kept)))

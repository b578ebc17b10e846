"""Tracing a flax linen module for inspection, without compiling or running it.

- Every conv is traced on XLA (``conv_general_dilated``): a cnnjax model is cloned with
  ``conv_implementation='xla'`` and everything is traced inside ``conv_target(None, 'xla')``, so oneDNN
  custom calls, invisible as convolutions, never appear.
- Every module method call runs under a ``jax.named_scope`` holding :data:`~cnnjax.inspect.program.MARKER`
  and the call's index (``nn.intercept_methods``), so each equation knows the module call it belongs to;
  ``module_paths[i]`` is call i's module path.
- The model is applied with ``mutable=True`` (so BatchNorm in train mode traces) and, unless the caller
  passes ``rngs``, a ``'dropout'`` key.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from cnnjax.inspect.program import MARKER, Program, flatten
from cnnjax.layers import conv_target
from cnnjax.models.classifier import ImageModel


def on_xla(model: nn.Module) -> nn.Module:
    """``model`` with every conv on XLA: a zoo model (whose own conv target would win over the caller's) cloned
    with ``conv_implementation='xla'``."""
    return model.clone(conv_implementation="xla") if isinstance(model, ImageModel) else model


def _apply_kwargs(apply_kwargs: dict) -> dict:
    return {"rngs": {"dropout": jax.random.key(0)}, **apply_kwargs, "mutable": True}


def abstract_variables(model: nn.Module, x: jax.ShapeDtypeStruct, apply_kwargs: dict):
    """The variables ``model.init`` makes for ``x``, as ``jax.ShapeDtypeStruct`` leaves."""
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
    kwargs = {name: value for name, value in apply_kwargs.items() if name not in ("rngs", "mutable")}
    with conv_target(None, "xla"):
        return jax.eval_shape(lambda x: model.init(rngs, x, **kwargs), x)


def forward_program(model: nn.Module, variables, x: jax.ShapeDtypeStruct, apply_kwargs: dict):
    """``(program, module_paths)``: ``model.apply(variables, x, **apply_kwargs)`` with module calls marked
    (module docstring); the program's inputs are the variables' leaves, then ``x``."""
    module_paths: list[tuple[str, ...]] = []

    def mark(next_fun, args, kwargs, context):
        module_paths.append(tuple(context.module.path))
        with jax.named_scope(f"{MARKER}{len(module_paths) - 1}"):
            return next_fun(*args, **kwargs)

    kwargs = _apply_kwargs(apply_kwargs)
    with conv_target(None, "xla"), nn.intercept_methods(mark):
        closed = jax.make_jaxpr(lambda variables, x: model.apply(variables, x, **kwargs))(variables, x)
    return flatten(closed), tuple(module_paths)


def residual_program(model: nn.Module, variables, x: jax.ShapeDtypeStruct, apply_kwargs: dict) -> Program:
    """A program whose outputs are the residuals ``jax.vjp`` of ``model.apply`` with respect to the
    parameters saves for the backward pass; its last input is ``x``."""
    params = variables.get("params", {})
    others = {name: tree for name, tree in variables.items() if name != "params"}
    kwargs = _apply_kwargs(apply_kwargs)

    def residuals(params, others, x):
        _, pullback = jax.vjp(lambda params: model.apply({**others, "params": params}, x, **kwargs)[0], params)
        return jax.tree.leaves(pullback)

    with conv_target(None, "xla"):
        return flatten(jax.make_jaxpr(residuals)(params, others, x))

"""Frozen parameters (``config.train.frozen``: shell patterns of '/'-joined parameter paths).

A frozen parameter gets no gradient (``lax.stop_gradient`` in the loss, so XLA drops the backward pass that only
fed it) and no update (``optax.set_to_zero`` through ``optax.multi_transform``: weight decay and momentum
included), so it stays bit-identical.  A BatchNorm layer whose scale and offset are frozen normalises with its
running statistics in training as in evaluation, and leaves them unchanged: its ``use_running_average`` is
switched on for the train step's call (:func:`frozen_batch_norm`).
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Sequence

import flax.linen as nn
import jax
import optax

from cnnjax.errors import InvalidInputError
from cnnjax.layers.grouped_batch_norm import GroupedBatchNorm

FROZEN, TRAINED = "frozen", "trained"
LISTED_MODULES = 12  # top-level modules an unmatched-pattern error lists


def path_string(path) -> str:
    """A pytree key path as the '/'-joined names the patterns match (``stage1_block1/conv1/conv/kernel``)."""
    return jax.tree_util.keystr(path, simple=True, separator="/")


def is_frozen(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def check_patterns(params, patterns: Sequence[str]) -> None:
    """Every pattern matches some parameter path of ``params`` (shapes suffice); else ``InvalidInputError`` naming
    it and the top-level modules."""
    paths = [path_string(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(p, pattern) for p in paths):
            modules = sorted({p.split("/")[0] for p in paths})
            listed = ", ".join(modules[:LISTED_MODULES]) + (" ..." if len(modules) > LISTED_MODULES else "")
            raise InvalidInputError(
                f"config.train.frozen pattern {pattern!r} matches no parameter path ('/'-joined, e.g. "
                f"{paths[0]!r}); top-level modules: {listed}"
            )


def labels(params, patterns: Sequence[str]):
    """``FROZEN`` / ``TRAINED`` for each parameter of ``params``."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: FROZEN if is_frozen(path_string(path), patterns) else TRAINED, params
    )


def freeze_updates(tx: optax.GradientTransformation, patterns: Sequence[str]) -> optax.GradientTransformation:
    """``tx`` for the trained parameters, zero updates (and no optimizer state) for the frozen ones."""
    if not patterns:
        return tx
    return optax.multi_transform({TRAINED: tx, FROZEN: optax.set_to_zero()}, lambda params: labels(params, patterns))


def stop_frozen_gradients(params, patterns: Sequence[str]):
    """``params`` with ``lax.stop_gradient`` on the frozen ones."""
    if not patterns:
        return params
    return jax.tree_util.tree_map_with_path(
        lambda path, x: jax.lax.stop_gradient(x) if is_frozen(path_string(path), patterns) else x, params
    )


@contextlib.contextmanager
def frozen_batch_norm(patterns: Sequence[str]):
    """Within the block, model calls run every BatchNorm layer whose ``scale`` is frozen with its running
    statistics (module docstring).  A module's fields are read when it is called, and the module object lives for
    this call only, so the switch changes nothing else."""
    if not patterns:
        yield
        return

    def intercept(next_fun, args, kwargs, context):
        module = context.module
        if (
            context.method_name == "__call__"
            and isinstance(module, (nn.BatchNorm, GroupedBatchNorm))
            and not module.use_running_average
            and is_frozen("/".join((*module.path, "scale")), patterns)
        ):
            object.__setattr__(module, "use_running_average", True)
            try:
                return next_fun(*args, **kwargs)
            finally:
                object.__setattr__(module, "use_running_average", False)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(intercept):
        yield

"""Model registry: ``create_model('lenet5', num_classes=10)``, ``list_models('cifar_*')``.

Each model is registered with its task: ``'classification'`` models map images to ``(N, classes)``
logits, ``'segmentation'`` models to per-pixel ``(N, H, W, classes)`` logits.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.errors import InvalidInputError
from cnnjax.layers.conv_target import check_target

MODEL_TASKS = ("classification", "segmentation")  # (N, classes) or (N, H, W, classes) logits

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}
_TASKS: dict[str, str] = {}
_DTYPE_FIELDS = ("dtype", "param_dtype")


def register_model(name: str, task: str = "classification"):
    """Decorator registering ``factory(num_classes=, in_channels=, **overrides) -> nn.Module``."""
    if task not in MODEL_TASKS:
        raise ValueError(f"task must be one of {MODEL_TASKS}, got {task!r}")

    def decorate(factory):
        if name in _FACTORIES:
            raise ValueError(f"model {name!r} is already registered")
        _FACTORIES[name] = factory
        _TASKS[name] = task
        return factory

    return decorate


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Sorted registered names matching a shell wildcard (``fnmatch``), e.g. ``'cifar_resnet*'``,
    of one ``task`` (``None``: every task)."""
    return sorted(n for n in fnmatch.filter(_FACTORIES, pattern) if task is None or _TASKS[n] == task)


def model_task(name: str) -> str:
    """The task a registered model solves: ``'classification'`` or ``'segmentation'``."""
    _check_registered(name)
    return _TASKS[name]


def _check_registered(name: str) -> None:
    if name not in _FACTORIES:
        raise InvalidInputError(
            f"unknown model {name!r}{_suggest(name, _FACTORIES)} (list_models() gives all {len(_FACTORIES)})"
        )


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def create_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int = 3,
    platform: str | None = None,
    conv_implementation: str = "auto",
    **overrides,
) -> nn.Module:
    """Build a registered model; ``overrides`` (``dtype``, ``width``, ``stage_sizes``, ...) reach
    its constructor.  ``dtype`` / ``param_dtype`` may be strings such as ``'bfloat16'``.

    ``platform`` is what the model's convs are traced for (``jax.Device.platform`` of the devices
    it runs on, or an export target): ``'cpu'`` takes the CPU conv paths (oneDNN); any other and
    ``None`` (the default: portable) XLA's convs.  ``conv_implementation='xla'`` makes every conv
    XLA's (e.g. to count FLOPs).  See :mod:`cnnjax.layers.conv_target`."""
    _check_registered(name)
    check_target(platform, conv_implementation)
    factory = _FACTORIES[name]
    accepted = set(inspect.signature(factory).parameters) - {"parent", "name"}
    for key in overrides:
        if key not in accepted:
            raise InvalidInputError(
                f"model {name!r} has no option {key!r}{_suggest(key, accepted)}; options: {sorted(accepted)}"
            )
    for key in _DTYPE_FIELDS:
        if isinstance(overrides.get(key), str):
            overrides[key] = jnp.dtype(overrides[key])
    return factory(
        num_classes=num_classes,
        in_channels=in_channels,
        platform=platform,
        conv_implementation=conv_implementation,
        **overrides,
    )

"""The platform conv layers are traced for, and an optional implementation every ``'auto'`` conv uses.

A model (:class:`cnnjax.models.classifier.ImageModel`) sets its ``platform`` and
``conv_implementation`` fields as the target around its forward pass; :func:`cnnjax.layers.conv2d`
and :func:`cnnjax.layers.conv_transpose` read it while tracing.  Rules:

- ``platform='cpu'``: ``'auto'`` convs take the CPU paths (oneDNN where it loads, else the XLA-based
  CPU paths).  Any other platform (:data:`PLATFORMS`) and ``None`` (no target: a layer used outside a
  model and outside :func:`conv_target`): XLA's convs, a program that compiles and exports for every
  platform.  The host's backend is never consulted: a GPU program traced on a CPU host has XLA convs.
- ``implementation='xla'`` (:data:`TARGET_IMPLEMENTATIONS`) makes every ``'auto'`` conv, forward and
  transposed, XLA's (FLOP counts, a baseline); a layer's own explicit implementation still wins.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import NamedTuple

PLATFORMS = ("cpu", "gpu", "cuda", "rocm", "tpu")
TARGET_IMPLEMENTATIONS = ("auto", "xla")


class ConvTarget(NamedTuple):
    platform: str | None = None
    implementation: str = "auto"


_NO_TARGET = ConvTarget()
_target: contextvars.ContextVar[ConvTarget | None] = contextvars.ContextVar("cnnjax_conv_target", default=None)


def check_target(platform: str | None, implementation: str = "auto") -> None:
    """Raises ``ValueError`` unless ``platform`` is ``None`` or one of :data:`PLATFORMS` and
    ``implementation`` one of :data:`TARGET_IMPLEMENTATIONS`."""
    if platform is not None and platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; expected None or one of {PLATFORMS}")
    if implementation not in TARGET_IMPLEMENTATIONS:
        raise ValueError(
            f"unknown conv target implementation {implementation!r}; expected one of {TARGET_IMPLEMENTATIONS}"
        )


@contextlib.contextmanager
def conv_target(platform: str | None, implementation: str = "auto") -> Iterator[None]:
    """Convs traced inside are traced for ``platform``, with ``implementation`` in place of ``'auto'``
    (module docstring).  Read at trace time: a function traced outside keeps what it was traced with."""
    check_target(platform, implementation)
    token = _target.set(ConvTarget(platform, implementation))
    try:
        yield
    finally:
        _target.reset(token)


def current_target() -> ConvTarget:
    """The innermost :func:`conv_target`, or ``ConvTarget(None, 'auto')`` outside every one."""
    return _target.get() or _NO_TARGET

"""The platform conv layers are traced for, and an optional implementation every ``'auto'`` conv uses.

A model (:class:`cnnjax.models.classifier.ImageModel`) sets its ``platform`` and
``conv_implementation`` fields as the target around its forward pass; the conv dispatch
(:func:`cnnjax.layers.conv_dispatch.dispatch`) reads it while tracing.  Rules:

- ``platform='cpu'``: ``'auto'`` convs take the CPU paths (oneDNN where it loads, else the XLA-based
  CPU paths).  Any other platform (:data:`PLATFORMS`) and ``None`` (no target: a layer used outside a
  model and outside :func:`conv_target`): XLA's convs, a program that compiles and exports for every
  platform.  The host's backend is never consulted: a GPU program traced on a CPU host has XLA convs.
- ``implementation``: any of :data:`~cnnjax.layers.conv_dispatch.NAMES`.  A name other than
  ``'auto'`` replaces ``'auto'`` in every conv traced inside, forward and transposed, of any rank
  (``'xla'``: FLOP counts, a baseline); a layer's own explicit implementation still wins.  A conv the
  named implementation cannot serve raises
  :class:`~cnnjax.layers.conv_call.ConvImplementationError` while tracing (no silent fallback).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cnnjax.errors import InvalidInputError
from cnnjax.layers.conv_dispatch import IMPLEMENTATIONS, TARGET, ConvTarget, check_name

PLATFORMS = ("cpu", "gpu", "cuda", "rocm", "tpu")


def check_target(platform: str | None, implementation: str = "auto") -> None:
    """Raises ``InvalidInputError`` (a ``ValueError``) unless ``platform`` is ``None`` or one of
    :data:`PLATFORMS`, and ``implementation`` a known name that can run on ``platform``."""
    if platform is not None and platform not in PLATFORMS:
        raise InvalidInputError(f"unknown platform {platform!r}; expected None or one of {PLATFORMS}")
    check_name(implementation)
    if implementation != "auto" and IMPLEMENTATIONS[implementation].cpu_only and platform not in (None, "cpu"):
        raise InvalidInputError(f"conv implementation {implementation!r} runs on XLA:CPU only, not on {platform!r}")


@contextlib.contextmanager
def conv_target(platform: str | None, implementation: str = "auto") -> Iterator[None]:
    """Convs traced inside are traced for ``platform``, with ``implementation`` in place of ``'auto'``
    (module docstring).  Read at trace time: a function traced outside keeps what it was traced with."""
    check_target(platform, implementation)
    token = TARGET.set(ConvTarget(platform, implementation))
    try:
        yield
    finally:
        TARGET.reset(token)

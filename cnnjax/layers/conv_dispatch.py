"""The one conv dispatch: every forward and transposed conv of cnnjax (:class:`~cnnjax.layers.Conv`,
:class:`~cnnjax.layers.ConvTranspose`, :func:`~cnnjax.layers.conv_nd`, :func:`~cnnjax.layers.conv_transpose`)
runs through :func:`dispatch`, which picks one of :data:`IMPLEMENTATIONS` for its :class:`ConvCall`.

Implementations (:data:`NAMES`; each is declared once, in its module, as an
:class:`~cnnjax.layers.conv_call.Implementation` that says which calls it serves):

- ``'xla'`` (:mod:`~cnnjax.layers.xla_conv`): XLA's ops; every call, every platform.
- ``'onednn'`` (:mod:`~cnnjax.layers.onednn_conv`): oneDNN primitives on XLA:CPU; 2-D, float32 (or
  bfloat16 where the CPU runs it), forward and transposed, where the extension loads.
- ``'depthwise_shift'`` (:mod:`~cnnjax.layers.depthwise_conv`), ``'grouped_split'``
  (:mod:`~cnnjax.layers.grouped_conv`), ``'chunked_wgrad'`` (:mod:`~cnnjax.layers.chunked_conv`),
  ``'subpixel'`` (:mod:`~cnnjax.layers.subpixel`): XLA-based rewrites for XLA:CPU without oneDNN.

Selection (:func:`select`, for ``'auto'``): on a ``'cpu'`` target the first of :data:`CPU_ORDER`
that serves the call and earns its place there (oneDNN first); on every other platform, and
without a target, ``'xla'`` (a program that compiles and exports for any platform).

Override: a layer's ``implementation`` wins; else the conv target's
(:func:`~cnnjax.layers.conv_target.conv_target`, a model's ``conv_implementation``), which applies
to every ``'auto'`` conv traced inside, forward and transposed, of any rank.  An explicit
implementation (from either) that cannot serve a call raises :class:`ConvImplementationError` at
trace time, naming it, the call and the reason; there is no silent fallback.  Only ``'auto'``
chooses.
"""

from __future__ import annotations

import contextvars
from typing import NamedTuple

from cnnjax.errors import InvalidInputError
from cnnjax.layers.chunked_conv import CHUNKED_WGRAD
from cnnjax.layers.conv_call import ConvCall, ConvImplementationError, Implementation
from cnnjax.layers.depthwise_conv import DEPTHWISE_SHIFT
from cnnjax.layers.grouped_conv import GROUPED_SPLIT
from cnnjax.layers.onednn_conv import ONEDNN
from cnnjax.layers.subpixel import SUBPIXEL
from cnnjax.layers.xla_conv import XLA

IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl for impl in (XLA, ONEDNN, DEPTHWISE_SHIFT, GROUPED_SPLIT, CHUNKED_WGRAD, SUBPIXEL)
}
NAMES = ("auto", *IMPLEMENTATIONS)
CPU_ORDER = (ONEDNN, DEPTHWISE_SHIFT, GROUPED_SPLIT, CHUNKED_WGRAD, SUBPIXEL)


class ConvTarget(NamedTuple):
    """What convs are traced for: ``platform`` (``None``: no target) and the implementation that
    replaces ``'auto'`` (see :mod:`cnnjax.layers.conv_target`)."""

    platform: str | None = None
    implementation: str = "auto"


NO_TARGET = ConvTarget()
TARGET: contextvars.ContextVar[ConvTarget | None] = contextvars.ContextVar("cnnjax_conv_target", default=None)


def current_target() -> ConvTarget:
    """The innermost :func:`~cnnjax.layers.conv_target.conv_target`, or :data:`NO_TARGET` outside every one."""
    return TARGET.get() or NO_TARGET


def check_name(implementation: str) -> None:
    """Raises ``InvalidInputError`` (a ``ValueError``) unless ``implementation`` is one of :data:`NAMES`."""
    if implementation not in NAMES:
        raise InvalidInputError(f"unknown conv implementation {implementation!r}; expected one of {NAMES}")


def select(call: ConvCall, platform: str | None) -> str:
    """The implementation ``'auto'`` runs ``call`` with, compiled for ``platform`` (module docstring)."""
    if platform == "cpu":
        for impl in CPU_ORDER:
            if impl.why_not(call) is None and impl.earns(call):
                return impl.name
    return XLA.name


def resolve(call: ConvCall, implementation: str, platform: str | None, source: str = "") -> Implementation:
    """The implementation that runs ``call``: :func:`select`'s for ``'auto'``, else the named one, which
    must serve the call (and, where ``cpu_only``, a target of ``platform`` ``'cpu'`` or ``None``);
    raises :class:`ConvImplementationError` otherwise.  ``source`` names where the name came from."""
    check_name(implementation)
    if implementation == "auto":
        return IMPLEMENTATIONS[select(call, platform)]
    impl = IMPLEMENTATIONS[implementation]
    if impl.cpu_only and platform not in (None, "cpu"):
        reason = f"runs on XLA:CPU only, and the conv target is {platform!r}"
    else:
        reason = impl.why_not(call)
    if reason is not None:
        raise ConvImplementationError(
            f"conv implementation {implementation!r}{source} cannot serve the {call}: {reason}"
        )
    return impl


def dispatch(x, kernel, call: ConvCall, implementation: str = "auto"):
    """Runs ``call`` on ``x`` and ``kernel`` with the layer's ``implementation``, or, for ``'auto'``,
    with the current target's (module docstring)."""
    check_name(implementation)
    target = current_target()
    source = ""
    if implementation == "auto" and target.implementation != "auto":
        implementation, source = target.implementation, " (the conv target's)"
    return resolve(call, implementation, target.platform, source).run(x, kernel, call)

"""Compile time, measured apart from the first step: ``compiled, seconds = timed_compile(jitted, *args)``.

``seconds`` covers tracing, lowering and XLA compilation, or loading the program from the persistent cache
(:mod:`cnnjax.compilation_cache`) instead of compiling it. ``compiled`` then runs on arguments of exactly the
shapes, dtypes and shardings given (no silent re-trace: others raise ``TypeError``) and honours the
function's ``donate_argnums``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax


def timed_compile(jitted: Callable, *args) -> tuple[jax.stages.Compiled, float]:
    """``jitted.lower(*args).compile()`` (a ``jax.jit`` function, e.g. ``DataParallel.map``'s result) and
    the wall-clock seconds it took. ``args`` may be the real arguments or ``jax.ShapeDtypeStruct`` s."""
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - start

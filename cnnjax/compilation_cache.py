"""JAX's persistent compilation cache, on by default: a later process loads a program compiled before instead of
compiling it again.

:func:`enable_compilation_cache` (called by ``cnnjax train`` and ``cnnjax benchmark`` before anything compiles):

- directory: ``$CNNJAX_COMPILATION_CACHE_DIR``, else ``jax/`` in :func:`cnnjax.cache_root.cache_root`;
  ``CNNJAX_COMPILATION_CACHE_DIR=`` (set, empty) turns the cache off, e.g. to time cold compiles;
- every program is written, however fast it compiled (JAX's default skips those under 1 s);
- the directory is kept under :data:`MAX_BYTES`, least recently used programs evicted first (JAX needs
  the ``filelock`` package for this).

An entry is keyed on the program, the jax/jaxlib versions, the devices and the compile options, so any change
misses rather than loads a stale program. Programs holding cnnjax's oneDNN custom calls cache too: the call
names its FFI target, which is registered again when the conv is traced (the cache is looked up after tracing).
The settings are read at this process's first compile; a call after that changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnjax.cache_root import cache_root

ENV_VARIABLE = "CNNJAX_COMPILATION_CACHE_DIR"
MAX_BYTES = 8 * 2**30


def compilation_cache_dir() -> Path | None:
    """The cache's directory in this environment (None: turned off with an empty ``$CNNJAX_COMPILATION_CACHE_DIR``)."""
    if ENV_VARIABLE in os.environ:
        return Path(os.environ[ENV_VARIABLE]).expanduser() if os.environ[ENV_VARIABLE] else None
    return cache_root() / "jax"


def enable_compilation_cache() -> Path | None:
    """Points JAX's persistent compilation cache at :func:`compilation_cache_dir` (see the module docstring);
    returns that directory."""
    import jax

    path = compilation_cache_dir()
    if path is None:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return path

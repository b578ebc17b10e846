"""CPU-only tuning: XLA:CPU compile options per computation, and glibc malloc for a CPU run.

:func:`compiler_options` gives the options a train/eval step's ``jax.jit(..., compiler_options=...)``
takes: none unless the computation is compiled for ``'cpu'``, so GPU/TPU compilers (which abort on XLA:CPU
names in ``XLA_FLAGS``) never see them.  Each is left out where the user set it in ``XLA_FLAGS`` or the
installed XLA:CPU does not accept its name or value (an unknown option raises "No such compile option"):

- ``xla_cpu_experimental_ynn_fusion_type``: YNNPACK for dots and reductions, not convolutions
  (:data:`YNN_FUSION_TYPES`; the option replaces the default set, which adds
  ``LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION``).  YNNPACK's convolutions are slower than XLA:CPU's
  Eigen convolutions at conv-net shapes.
- ``xla_cpu_use_fusion_emitters=False``: XLA:CPU's loop emitters run the element-wise fusions
  of a conv net's train step (BatchNorm, ReLU6, transposes feeding weight gradients) faster than its
  fusion emitters; their reductions are slower, which :mod:`cnnjax.layers.depthwise_conv` allows for.
  A step vmapped over seeds (``members=True``) takes the fusion emitters: its element-wise fusions are 5-D
  (seed, N, H, W, C) with statistics broadcast over the seed and channel axes, which the loop emitters run
  several times slower than the fusion emitters do.

:func:`tune_cpu_runtime` (``cnnjax train`` unless ``config.runtime.tune_cpu`` is False, and
``benchmarks/``) sets glibc ``malloc`` for the whole process: no mmap, one arena, trim only above
2 GiB free, so XLA:CPU's per-step temporaries keep their pages between steps instead of being mapped
and page-faulted in again every step.  Skipped where a GPU/TPU plugin is installed (unless
``JAX_PLATFORMS=cpu``), where the user set malloc variables, and off glibc.

Measurements are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import pkgutil
import platform as host

YNN_FUSION_TYPES = ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT", "LIBRARY_FUSION_TYPE_REDUCE")
FUSION_EMITTERS = "xla_cpu_use_fusion_emitters"
XLA_CPU_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": ",".join(YNN_FUSION_TYPES),
    FUSION_EMITTERS: False,
}
# mallopt parameters (glibc malloc.h) and their values: no mmap, one arena, trim above 2 GiB.
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
MALLOPT_SETTINGS = ((M_MMAP_MAX, 0), (M_ARENA_MAX, 1), (M_TRIM_THRESHOLD, 2**31 - 1))
ACCELERATOR_PLUGIN_PREFIXES = ("jax_cuda", "jax_rocm", "libtpu")
USER_MALLOC_VARIABLES = ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")

_tuned = False


def compiler_options(platform: str, members: bool = False) -> dict[str, object]:
    """The XLA options of this module's docstring for a computation compiled for ``platform``
    (``jax.Device.platform``: ``'cpu'``, ``'gpu'``, ``'tpu'`` ...), vmapped over seeds where ``members``:
    empty unless ``'cpu'``; without those the user set in ``XLA_FLAGS`` or the installed XLA:CPU does not
    accept."""
    if platform != "cpu":
        return {}
    user_flags = os.environ.get("XLA_FLAGS", "")
    options = {name: value for name, value in _known_options().items() if name not in user_flags}
    if members and FUSION_EMITTERS in options:
        options[FUSION_EMITTERS] = True
    return options


@functools.cache
def _known_options() -> dict[str, object]:
    """:data:`XLA_CPU_OPTIONS` that the installed XLA:CPU accepts, each tried once on a trivial CPU program
    (options and their values come and go between jaxlib releases)."""
    import jax
    import jax.numpy as jnp

    scalar = jax.ShapeDtypeStruct((), jnp.float32, sharding=jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0]))
    known = {}
    for name, value in XLA_CPU_OPTIONS.items():
        try:
            jax.jit(jnp.negative, compiler_options={name: value}).lower(scalar).compile()
        except Exception:  # XLA's error for an unknown name or value
            continue
        known[name] = value
    return known


def cpu_pinned() -> bool:
    """``JAX_PLATFORMS=cpu``: jax runs on the CPU even where a GPU or TPU is installed."""
    return os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu"


def _accelerator_installed() -> bool:
    """A GPU or TPU PJRT plugin is importable and ``JAX_PLATFORMS`` does not pin the CPU: the step's
    temporaries then live on the device, and one malloc arena could slow the host's data threads."""
    if cpu_pinned():
        return False
    return any(module.name.startswith(ACCELERATOR_PLUGIN_PREFIXES) for module in pkgutil.iter_modules())


def tune_cpu_runtime() -> list[str]:
    """Applies the malloc settings of this module's docstring to this process; returns what it changed
    (empty where a GPU/TPU plugin is installed, the user set malloc variables, the C library is not
    glibc, or an earlier call tuned this process)."""
    global _tuned
    if _tuned:
        return []
    _tuned = True
    user_malloc = any(name in os.environ for name in USER_MALLOC_VARIABLES)
    glibc = host.system() == "Linux" and host.libc_ver()[0] == "glibc"
    if not glibc or user_malloc or _accelerator_installed():
        return []
    libc = ctypes.CDLL(None)
    if all(libc.mallopt(param, value) == 1 for param, value in MALLOPT_SETTINGS):
        return ["mallopt(M_MMAP_MAX=0, M_ARENA_MAX=1, M_TRIM_THRESHOLD=2 GiB)"]
    return []

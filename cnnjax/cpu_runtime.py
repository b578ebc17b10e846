"""Process-wide settings that make conv nets train faster on CPU hosts; apply before JAX starts.

:func:`tune_cpu_runtime` (called by ``cnnjax train`` unless ``config.runtime.tune_cpu`` is False,
and by ``benchmarks/``) sets these, each left alone where the user already set it (and an XLA flag
only where the installed jaxlib knows its name: XLA aborts on unknown flags):

- ``XLA_FLAGS += --xla_cpu_experimental_ynn_fusion_type=-individual_convolution``.  XLA:CPU in
  jax 0.10 runs float32 convolutions through YNNPACK, which is slower than its Eigen convolutions
  at conv-net shapes: conv fwd+bwd 128x16²x32 3x3, 25 -> 15 ms.  Other YNNPACK fusions (dots,
  reductions) stay.
- ``XLA_FLAGS += --xla_cpu_use_fusion_emitters=false``: XLA:CPU's older loop emitters run the
  element-wise fusions of a conv net's train step (BatchNorm, ReLU6, the transposes that feed weight
  gradients) faster than its new fusion emitters: MobileNetV2 step 0.47 -> 0.36 s, CIFAR ResNet-20
  0.35 -> 0.33 s, ResNet-50 unchanged.  Their reductions are slower, which
  :mod:`cnnjax.layers.depthwise_conv` allows for.
- glibc ``malloc``: XLA:CPU allocates each step's temporaries (~300 MB for a CIFAR ResNet-20 step
  at batch 128, and Eigen's conv scratch buffers) with ``malloc``; above the mmap threshold each
  allocation is a fresh mapping, so every step page-faults all of it in again (73,000 faults and
  ~140 ms of kernel time per ResNet-20 step).  ``mallopt``: no mmap, one arena (thread arenas
  cannot hold blocks over 64 MB), trim only above 2 GiB free, so the heap keeps the pages between
  steps (13,500 faults, ~35 ms).  Skipped where a GPU/TPU plugin is installed (unless
  ``JAX_PLATFORMS=cpu``): there the temporaries live on the device.

Measured on 2 CPU cores, ``python benchmarks/models.py [--untuned]``, train steps: CIFAR ResNet-20
0.47 -> 0.33 s (PyTorch 0.24 s), ResNet-50 1.35 -> 1.02 s, MobileNetV2 0.74 -> 0.39 s.  The flags must
be set before JAX creates its CPU client, so a call after that changes nothing and says so.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import pkgutil
import platform
import sys
import warnings
from pathlib import Path

YNN_CONV_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
FUSION_EMITTERS_FLAG = "--xla_cpu_use_fusion_emitters=false"
XLA_CPU_FLAGS = (YNN_CONV_FLAG, FUSION_EMITTERS_FLAG)
# mallopt parameters (glibc malloc.h) and their values: no mmap, one arena, trim above 2 GiB.
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
MALLOPT_SETTINGS = ((M_MMAP_MAX, 0), (M_ARENA_MAX, 1), (M_TRIM_THRESHOLD, 2**31 - 1))
ACCELERATOR_PLUGIN_PREFIXES = ("jax_cuda", "jax_rocm", "libtpu")
USER_MALLOC_VARIABLES = ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")

_tuned = False


def _jax_backends_started() -> bool:
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def _accelerator_installed() -> bool:
    """A GPU or TPU PJRT plugin is importable and ``JAX_PLATFORMS`` does not pin the CPU: the step's
    temporaries then live on the device, and one malloc arena could slow the host's data threads."""
    if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
        return False
    return any(module.name.startswith(ACCELERATOR_PLUGIN_PREFIXES) for module in pkgutil.iter_modules())


def _flag_name(flag: str) -> str:
    return flag.removeprefix("--").split("=")[0]


def _known_xla_flags(flags: tuple[str, ...]) -> list[str]:
    """The ``flags`` whose names the installed jaxlib's libraries contain: XLA aborts the process on
    an unknown name in ``XLA_FLAGS``, and flags come and go between jaxlib releases."""
    try:
        import jaxlib  # the package only: does not start JAX
    except ImportError:
        return []
    names = {flag: _flag_name(flag).encode() for flag in flags}
    found = set()
    for library in Path(jaxlib.__file__).parent.glob("*.so"):
        with library.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found |= {flag for flag, name in names.items() if data.find(name) >= 0}
    return [flag for flag in flags if flag in found]


def tune_cpu_runtime() -> list[str]:
    """Applies the settings of this module's docstring to this process; returns what it changed
    (empty when JAX already started, the user set them, the C library is not glibc, or an earlier
    call tuned this process; no malloc settings where a GPU/TPU plugin is installed, no XLA flag
    the installed jaxlib does not know)."""
    global _tuned
    if _tuned:
        return []
    if _jax_backends_started():
        warnings.warn("tune_cpu_runtime: JAX has already started its backends; nothing changed", stacklevel=2)
        return []
    user_flags = os.environ.get("XLA_FLAGS", "")
    applied = _known_xla_flags(tuple(flag for flag in XLA_CPU_FLAGS if _flag_name(flag) not in user_flags))
    if applied:
        os.environ["XLA_FLAGS"] = " ".join([user_flags, *applied]).strip()
    user_malloc = any(name in os.environ for name in USER_MALLOC_VARIABLES)
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    if glibc and not user_malloc and not _accelerator_installed():
        libc = ctypes.CDLL(None)
        if all(libc.mallopt(param, value) == 1 for param, value in MALLOPT_SETTINGS):
            applied.append("mallopt(M_MMAP_MAX=0, M_ARENA_MAX=1, M_TRIM_THRESHOLD=2 GiB)")
    _tuned = True
    return applied

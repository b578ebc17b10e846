"""oneDNN convolutions for XLA:CPU: build, load and register the ``onednn_conv.cc`` FFI custom call.

XLA:CPU's own convolutions (Eigen) are 1.2-2x slower per core than oneDNN's at conv-net shapes,
its depthwise and grouped convs 10-50x slower, and each weight gradient needs transposes of ``x``
and ``dy``.  oneDNN (the library behind PyTorch's CPU convs) computes all three directions on NHWC
buffers directly.  The extension is compiled on first use against the installed jaxlib's XLA FFI
headers and the ``onednn-cpu-gomp`` wheels (pip dependencies on Linux x86-64), with the system's
C++ compiler (``$CXX``, ``g++`` or ``c++``; ~5 s), and cached in ``$CNNJAX_CACHE_DIR`` (default
``~/.cache/cnnjax``) under a hash of everything that goes into it.

:func:`onednn_available` says whether it loaded; where it cannot (no compiler, another platform,
``CNNJAX_ONEDNN=0``) the convs keep XLA-based paths and :func:`unavailable_reason` says why.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from cnnjax.cache_root import cache_root

TARGET_NAME = "cnnjax_onednn_conv"
SOURCE = Path(__file__).with_name("onednn_conv.cc")
LIBRARY_PACKAGE = "onednn-cpu-gomp"
HEADERS_PACKAGE = "onednn-devel-cpu-gomp"
DISABLE_VARIABLE = "CNNJAX_ONEDNN"
COMPILE_TIMEOUT_S = 300

_reason: str | None = None
_library: ctypes.CDLL | None = None


def _package_file(package: str, name: str) -> Path:
    """The installed file ``name`` (a path suffix) of distribution ``package``."""
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"the {package!r} wheel is not installed (pip install {package})") from None
    for file in files:
        if file.as_posix() == name or file.as_posix().endswith("/" + name):
            return Path(file.locate()).resolve()
    raise RuntimeError(f"{package!r} has no {name}")


def _compiler() -> str:
    compiler = os.environ.get("CXX") or "g++"
    found = shutil.which(compiler) or (None if "CXX" in os.environ else shutil.which("c++"))
    if not found:
        raise RuntimeError(f"no C++ compiler: {compiler!r} not found (set $CXX, or install g++)")
    return found


def cache_dir() -> Path:
    return cache_root() / "native"


def _build() -> Path:
    """Compiles the extension (unless cached) and returns the shared library's path."""
    import jax
    import jaxlib

    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise RuntimeError(f"the oneDNN wheels are for Linux x86-64, not {platform.system()} {platform.machine()}")
    library = _package_file(LIBRARY_PACKAGE, "libdnnl.so.3")
    header = _package_file(HEADERS_PACKAGE, "oneapi/dnnl/dnnl.hpp")
    compiler = _compiler()
    command = [
        compiler,
        "-O2",
        "-std=c++17",
        "-shared",
        "-fPIC",
        "-Wno-return-type",  # in XLA's FFI headers
        f"-I{jax.ffi.include_dir()}",
        f"-I{header.parents[2]}",
        str(SOURCE),
        str(library),
        f"-Wl,-rpath,{library.parent}",
    ]
    versions = [importlib.metadata.version(package) for package in (LIBRARY_PACKAGE, HEADERS_PACKAGE)]
    identity = "\n".join([SOURCE.read_text(), jaxlib.__version__, *versions, str(library), *command, sys.version])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    target = cache_dir() / f"libcnnjax_onednn_{digest}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"cnnjax: building the oneDNN conv extension (once) into {target.parent}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        result = subprocess.run([*command, "-o", str(built)], capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        if result.returncode != 0:
            raise RuntimeError(f"compiling {SOURCE.name} failed:\n{result.stderr[-2000:]}")
        os.replace(built, target)  # atomic: concurrent builders leave one complete library
    return target


@functools.cache
def onednn_available() -> bool:
    """Builds (first use), loads and registers the oneDNN conv custom call for XLA:CPU; False, with
    :func:`unavailable_reason` set, where that is not possible or ``CNNJAX_ONEDNN=0``."""
    global _reason, _library
    if os.environ.get(DISABLE_VARIABLE, "1").strip() == "0":
        _reason = f"disabled by {DISABLE_VARIABLE}=0"
        return False
    try:
        import jax

        _library = ctypes.CDLL(str(_build()))
        jax.ffi.register_ffi_target(TARGET_NAME, jax.ffi.pycapsule(_library.CnnjaxOnednnConv), platform="cpu")
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        _reason = str(error)
        warnings.warn(
            f"oneDNN convolutions unavailable, using XLA-based conv paths ({_reason}); "
            f"{DISABLE_VARIABLE}=0 turns them off without this warning",
            stacklevel=2,
        )
        return False
    return True


@functools.cache
def bf16_supported() -> bool:
    """Whether this CPU runs oneDNN's bfloat16 convs (AVX512-BF16, AMX or AVX2-VNNI-2); False without oneDNN."""
    return onednn_available() and bool(_library.CnnjaxOnednnBf16Supported())


def unavailable_reason() -> str | None:
    """Why :func:`onednn_available` returned False (None if it has not, or was not asked)."""
    return _reason

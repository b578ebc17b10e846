"""oneDNN convolutions for XLA:CPU: build, load and register the ``onednn_conv.cc`` FFI custom call.

oneDNN (the library behind PyTorch's CPU convs) computes each direction of a conv (forward, input
gradient, weight gradient), for any groups, as one primitive on XLA's NHWC / HWIO buffers;
``benchmarks/README.md`` compares it with XLA:CPU's convs.

Rules:

- Built on first use, which is the first conv traced for ``'cpu'``: only the CPU conv dispatch asks
  :func:`onednn_available`, so tracing for another platform never builds it.  The compiler is
  ``$CXX`` (else ``g++``, else ``c++``), the headers those of the installed jaxlib's XLA FFI and of the
  ``onednn-devel-cpu-gomp`` wheel (pip dependencies on Linux x86-64).
- Cached in :func:`cache_dir` under a hash of everything that goes into the build (source, versions,
  command, Python); a cached library is loaded, never rebuilt, even from a read-only cache dir.
- Processes that find it missing together build it once: one compiles under an exclusive
  ``fcntl.flock`` on a lock file beside the library, the others wait for the lock and load its result.
- Where it cannot load (another platform, no compiler, an unwritable cache dir, a failed compile)
  :func:`onednn_available` is False, :func:`unavailable_reason` says why, the convs take XLA-based
  paths, and one line on stderr says so, once per process.  ``CNNJAX_ONEDNN=0`` turns it off silently.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
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
    """The shared library's path, compiled first unless the cache holds it (:func:`_compile`)."""
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
    if not target.exists():
        _compile(command, target)
    return target


def _compile(command: list[str], target: Path) -> None:
    """Compiles ``target`` under an exclusive ``fcntl.flock`` on ``target``'s ``.lock`` file: of the
    processes that find the library missing, one compiles and the others wait, then find it built.
    The library appears by an atomic rename, complete or not at all."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = open(target.with_suffix(".lock"), "a")  # closing it releases the lock
    except OSError as error:
        raise RuntimeError(
            f"cannot write the cache dir {target.parent} ({error.strerror or error}); "
            "set $CNNJAX_CACHE_DIR to a writable directory"
        ) from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("cnnjax: waiting for another process to build the oneDNN conv extension", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():  # built by the process that held the lock
            return
        print(f"cnnjax: building the oneDNN conv extension (once) into {target.parent}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            built = Path(scratch) / target.name
            result = subprocess.run(
                [*command, "-o", str(built)], capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S
            )
            if result.returncode != 0:
                log = target.with_suffix(".log")
                log.write_text(result.stdout + result.stderr)
                raise RuntimeError(
                    f"compiling {SOURCE.name} failed (exit {result.returncode}); the compiler's output is in {log}"
                )
            os.replace(built, target)


def _report_unavailable(reason: str) -> None:
    """One line on stderr, once per process (:func:`onednn_available` is cached)."""
    print(
        f"cnnjax: warning: oneDNN convolutions unavailable, using XLA-based conv paths: {reason} "
        f"({DISABLE_VARIABLE}=0 turns oneDNN off without this warning)",
        file=sys.stderr,
        flush=True,
    )


@functools.cache
def onednn_available() -> bool:
    """Builds (first use), loads and registers the oneDNN conv custom call for XLA:CPU; False, with
    :func:`unavailable_reason` set, where that is not possible or ``CNNJAX_ONEDNN=0``.  Only the CPU
    conv dispatch asks (for convs traced for ``'cpu'``), so no other platform ever builds it."""
    global _reason, _library
    if os.environ.get(DISABLE_VARIABLE, "1").strip() == "0":
        _reason = f"disabled by {DISABLE_VARIABLE}=0"
        return False
    try:
        import jax

        _library = ctypes.CDLL(str(_build()))
        jax.ffi.register_ffi_target(TARGET_NAME, jax.ffi.pycapsule(_library.CnnjaxOnednnConv), platform="cpu")
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        _reason = " ".join(str(error).split())  # one line
        _report_unavailable(_reason)
        return False
    return True


@functools.cache
def bf16_supported() -> bool:
    """Whether this CPU runs oneDNN's bfloat16 convs (AVX512-BF16, AMX or AVX2-VNNI-2); False without oneDNN."""
    return onednn_available() and bool(_library.CnnjaxOnednnBf16Supported())


def unavailable_reason() -> str | None:
    """Why :func:`onednn_available` returned False (None if it has not, or was not asked)."""
    return _reason

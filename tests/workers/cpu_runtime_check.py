"""Worker: `tune_cpu_runtime` in a fresh process (malloc is process-wide), in the mode named by argv[1].

- ``tuned``: sets malloc (Linux/glibc) and nothing else: ``XLA_FLAGS`` is left as it was.
- ``accelerator``: with a GPU/TPU plugin installed, changes nothing.
"""

import os
import platform
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax import cpu_runtime  # noqa: E402
from cnnjax.cpu_runtime import tune_cpu_runtime  # noqa: E402

mode = sys.argv[1]
flags = os.environ.get("XLA_FLAGS")
if mode == "accelerator":
    cpu_runtime._accelerator_installed = lambda: True
    assert tune_cpu_runtime() == [], "no malloc settings beside a GPU/TPU plugin"
elif mode == "tuned":
    applied = tune_cpu_runtime()
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert applied == (["mallopt(M_MMAP_MAX=0, M_ARENA_MAX=1, M_TRIM_THRESHOLD=2 GiB)"] if glibc else []), applied
    assert tune_cpu_runtime() == [], "a second call changes nothing"
else:
    raise SystemExit(f"unknown mode {mode}")
assert os.environ.get("XLA_FLAGS") == flags, "XLA_FLAGS is never changed"
print(f"{mode} ok")

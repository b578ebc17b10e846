"""Worker: `tune_cpu_runtime` in a fresh process, in the mode named by argv[1]; asserts inside.

- ``tuned``: called before JAX starts: both XLA flags set, conv gradients compile without YNNPACK
  convolutions and equal the result computed in float64, and malloc is set (Linux/glibc).
- ``untuned``: XLA's default sends float32 convolutions to YNNPACK (why the flag exists).
- ``late``: called after JAX started: warns and changes nothing.
- ``user_flag``: the YNN fusion and fusion-emitter flags the user put in XLA_FLAGS are kept.
- ``accelerator``: with a GPU/TPU plugin installed, only the XLA flags (no malloc settings).
- ``unknown_flag``: a flag the installed jaxlib does not know is not set (XLA would abort the process).
"""

import os
import platform
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax import cpu_runtime  # noqa: E402
from cnnjax.cpu_runtime import XLA_CPU_FLAGS, tune_cpu_runtime  # noqa: E402

mode = sys.argv[1]
USER_FLAGS = "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution --xla_cpu_use_fusion_emitters=true"


def conv_sum(x, w):
    return jnp.sum(lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) ** 2)


def compiled_gradient():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(16, 16, 16, 32)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 32, 32)) * 0.1, jnp.float32)
    compiled = jax.jit(jax.grad(conv_sum, argnums=(0, 1))).lower(x, w).compile()
    return compiled, compiled(x, w), (x, w)


if mode == "late":
    jnp.ones(1).block_until_ready()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tune_cpu_runtime() == []
    assert any("already started" in str(w.message) for w in caught), caught
    assert not any(flag in os.environ.get("XLA_FLAGS", "") for flag in XLA_CPU_FLAGS)
elif mode == "accelerator":
    cpu_runtime._accelerator_installed = lambda: True
    assert tune_cpu_runtime() == list(XLA_CPU_FLAGS), "no malloc settings beside a GPU/TPU plugin"
elif mode == "unknown_flag":
    unknown = "--xla_cpu_no_such_flag_anywhere=true"
    cpu_runtime.XLA_CPU_FLAGS = (*XLA_CPU_FLAGS, unknown)
    applied = tune_cpu_runtime()
    assert applied[:2] == list(XLA_CPU_FLAGS) and unknown not in os.environ["XLA_FLAGS"], applied
    assert float(jnp.ones(2).sum()) == 2.0  # JAX starts with the flags that were set
elif mode == "user_flag":
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {USER_FLAGS}"
    applied = tune_cpu_runtime()
    assert not set(XLA_CPU_FLAGS) & set(applied) and os.environ["XLA_FLAGS"].endswith(USER_FLAGS), applied
    assert "__ynn_fusion" in compiled_gradient()[0].as_text()
else:
    applied = tune_cpu_runtime() if mode == "tuned" else []
    compiled, (dx, dw), (x, w) = compiled_gradient()
    uses_ynn = "__ynn_fusion" in compiled.as_text()
    assert uses_ynn == (mode == "untuned"), (mode, applied)
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    with jax.enable_x64():
        ref_dx, ref_dw = jax.grad(conv_sum, argnums=(0, 1))(jnp.asarray(x64), jnp.asarray(w64))
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-3)
    if mode == "tuned":
        assert applied[:2] == list(XLA_CPU_FLAGS) and os.environ["XLA_FLAGS"].endswith(" ".join(XLA_CPU_FLAGS)), applied
        assert (len(applied) == 3) == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"), applied
        assert tune_cpu_runtime() == [], "a second call changes nothing"
print(f"{mode} ok")

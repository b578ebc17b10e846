"""`cnnjax.cpu_runtime`: XLA:CPU options only for computations compiled for the CPU, each one the
installed jaxlib knows and the user did not set; malloc tuning process-wide, never beside an accelerator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from subprocesses import run_worker

from cnnjax import cpu_runtime
from cnnjax.cpu_runtime import FUSION_EMITTERS, XLA_CPU_OPTIONS, compiler_options
from cnnjax.parallel import SHARDED, DataParallel

YNN_OPTION = "xla_cpu_experimental_ynn_fusion_type"


def conv_sum(x, w):
    return jnp.sum(lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) ** 2)


def compiled_gradient(options):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(16, 16, 16, 32)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 32, 32)) * 0.1, jnp.float32)
    compiled = jax.jit(jax.grad(conv_sum, argnums=(0, 1)), compiler_options=options).lower(x, w).compile()
    return compiled, compiled(x, w), (x, w)


@pytest.mark.parametrize("platform", ["gpu", "tpu", "cuda", "rocm"])
def test_no_options_off_the_cpu(platform):
    assert compiler_options(platform) == {} == compiler_options(platform, members=True)


def test_a_step_vmapped_over_seeds_takes_the_fusion_emitters(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert compiler_options("cpu", members=True) == {**XLA_CPU_OPTIONS, FUSION_EMITTERS: True}
    monkeypatch.setenv("XLA_FLAGS", f"--{FUSION_EMITTERS}=false")  # the user's choice wins
    assert FUSION_EMITTERS not in compiler_options("cpu", members=True)


def test_cpu_options_take_convs_off_ynnpack_with_the_same_gradients(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert compiler_options("cpu") == XLA_CPU_OPTIONS
    assert "__ynn_fusion" in compiled_gradient({})[0].as_text()  # XLA's default: why the option exists
    compiled, (dx, dw), (x, w) = compiled_gradient(compiler_options("cpu"))
    assert "__ynn_fusion" not in compiled.as_text()
    with jax.enable_x64():
        x64, w64 = jnp.asarray(np.asarray(x, np.float64)), jnp.asarray(np.asarray(w, np.float64))
        ref_dx, ref_dw = jax.grad(conv_sum, argnums=(0, 1))(x64, w64)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-3)


def test_an_option_the_user_set_in_xla_flags_is_left_to_the_user(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", f"--{YNN_OPTION}=+individual_convolution")
    assert YNN_OPTION not in compiler_options("cpu") and "xla_cpu_use_fusion_emitters" in compiler_options("cpu")


def test_an_option_or_value_the_jaxlib_does_not_know_is_left_out(monkeypatch):
    unknown = {"xla_cpu_no_such_option_anywhere": False, YNN_OPTION: "LIBRARY_FUSION_TYPE_NO_SUCH_TYPE"}
    monkeypatch.setattr(cpu_runtime, "XLA_CPU_OPTIONS", {**XLA_CPU_OPTIONS, **unknown})
    cpu_runtime._known_options.cache_clear()
    try:
        assert compiler_options("cpu") == {"xla_cpu_use_fusion_emitters": False}
    finally:
        monkeypatch.undo()
        cpu_runtime._known_options.cache_clear()
    with pytest.raises(Exception, match="No such compile option"):  # what the check prevents
        compiled_gradient({"xla_cpu_no_such_option_anywhere": False})


def test_data_parallel_steps_are_compiled_with_the_options():
    dp = DataParallel(jax.devices()[:1])
    x = dp.shard_batch(np.ones((2, 3), np.float32))
    tanh = dp.map(jnp.tanh, (SHARDED,), SHARDED, compiler_options=compiler_options("cpu"))
    np.testing.assert_array_equal(tanh(x), np.tanh(x))
    with pytest.raises(Exception, match="No such compile option"):
        dp.map(jnp.tanh, (SHARDED,), SHARDED, compiler_options={"xla_cpu_no_such_option_anywhere": False})(x)


@pytest.mark.parametrize("mode", ["tuned", "accelerator"])
def test_tune_cpu_runtime_sets_malloc_only(mode):
    assert f"{mode} ok" in run_worker("cpu_runtime_check", 1, mode, timeout=300)

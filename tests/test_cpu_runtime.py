"""`cnnjax.cpu_runtime.tune_cpu_runtime`: takes effect before JAX starts, never after, keeps user settings."""

import pytest
from subprocesses import run_worker


@pytest.mark.parametrize("mode", ["tuned", "untuned", "late", "user_flag", "accelerator", "unknown_flag"])
def test_tune_cpu_runtime(mode):
    assert f"{mode} ok" in run_worker("cpu_runtime_check", 1, mode, timeout=300)

"""Data parallelism on 4 emulated CPU devices (in a subprocess: the device count is fixed at jax import)."""

from subprocesses import run_worker


def test_the_4_device_step_equals_the_one_device_step_and_eval_is_exact():
    output = run_worker("parallel_equivalence", num_devices=4)
    print(output)
    assert output.strip().endswith("OK")

"""Exact resume: runs stopped by SIGTERM, or killed by SIGKILL after a checkpoint, then resumed, end
bitwise equal to an uninterrupted run, with every step's loss logged exactly once."""

import signal
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from subprocesses import TINY_RUN, cnnjax_train_command, read_checkpoint_state, run, start

from cnnjax.checkpoint import is_committed
from cnnjax.reporting import read_metrics

STEPS = 600
COMMAND_ARGS = (
    *TINY_RUN,
    f"--config.train.num_steps={STEPS}",
    "--config.train.checkpoint_every_steps=100",
    "--config.parallel.sync_batch_stats=False",  # per-device statistics are averaged at each save
)


def train_command(workdir):
    return cnnjax_train_command("experiments/digits_simple_cnn.py", workdir, *COMMAND_ARGS)


def wait_for(condition, process, timeout=300.0):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def last_logged_step(workdir) -> int:
    rows = read_metrics(str(workdir), "train")
    return rows[-1]["step"] if rows else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    done = run(train_command(workdir))
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def assert_same_run(workdir, reference):
    losses = [(r["step"], r["loss"]) for r in read_metrics(str(workdir), "train")]
    reference_losses = [(r["step"], r["loss"]) for r in read_metrics(str(reference), "train")]
    assert [s for s, _ in losses] == list(range(1, STEPS + 1)), "each step is logged exactly once"
    assert losses == reference_losses
    state, reference_state = read_checkpoint_state(workdir, STEPS), read_checkpoint_state(reference, STEPS)
    for part in ("params", "opt_state", "batch_stats", "step", "rng"):
        leaves, reference_leaves = jax.tree.leaves(state[part]), jax.tree.leaves(reference_state[part])
        assert len(leaves) == len(reference_leaves) > 0
        for a, b in zip(leaves, reference_leaves):
            np.testing.assert_array_equal(a, b, err_msg=part)  # bitwise


def test_sigterm_saves_at_the_next_step_and_resumes_exactly(tmp_path, uninterrupted):
    process = start(train_command(tmp_path), stdout=-1, stderr=-1)
    wait_for(lambda: last_logged_step(tmp_path) >= 150, process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    assert "stopped by SIGTERM at step" in stdout
    stopped_at = int(stdout.split("stopped by SIGTERM at step")[1].split(";")[0])
    assert 150 <= stopped_at < STEPS and stopped_at % 100, "saved at the step boundary, not a periodic save"
    assert is_committed(str(Path(tmp_path, "checkpoints", str(stopped_at))))
    resumed = run(train_command(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(tmp_path, uninterrupted)


def test_sigkill_after_a_checkpoint_resumes_exactly(tmp_path, uninterrupted):
    process = start(train_command(tmp_path), stdout=-1, stderr=-1)
    wait_for(lambda: is_committed(str(Path(tmp_path, "checkpoints", "200"))), process)
    process.kill()
    process.communicate(timeout=60)
    assert last_logged_step(tmp_path) >= 200
    resumed = run(train_command(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(tmp_path, uninterrupted)

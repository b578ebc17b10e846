"""Exact resume of a shrunk default run with data worker processes, RandAugment, mixup / CutMix and a moving average of
the weights, stopped at 40 %: by SIGKILL after a checkpoint, by SIGTERM between log steps, by SIGTERM during an
evaluation. The resumed run logs every value the uninterrupted run logs (timings apart) and ends in the same state,
bitwise, the moving average included."""

import json
import os
import signal
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from experiment_runs import train
from in_process_stop import sigterm_when
from subprocesses import cnnjax_train_command, read_checkpoint_state, start

from cnnjax.checkpoint import is_committed
from cnnjax.reporting import read_metrics
from cnnjax.train.evaluation import Evaluator

STEPS = 100
OVERRIDES = (
    f"train.num_steps={STEPS}",
    "train.batch_size=32",
    "train.eval_batch_size=16",  # 17 batches per evaluation: a stop can land inside one
    "train.log_every_steps=7",  # log windows straddle every stop
    "train.eval_every_steps=25",
    "train.checkpoint_every_steps=30",
    "dataset.num_workers=2",  # data worker processes on: the data position follows the step all the same
    "dataset.num_threads=1",
    "dataset.auto_augment='randaugment'",  # drawn per example on the host: the same in every worker
    "dataset.mixup_alpha=0.2",  # drawn per step on the device
    "dataset.cutmix_alpha=1.0",
    "train.ema_decay=0.9",  # in the state: saved and restored bitwise, evaluated beside the raw weights
    "train.ema_warmup_power=0.75",
)
CONFIG = "experiments/digits_lenet5.py"
TIMINGS = ("time", "images_per_sec")


def train_command(workdir):
    return cnnjax_train_command(CONFIG, workdir, *[f"--config.{o}" for o in OVERRIDES])


def wait_for(condition, process, timeout=300.0):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def last_logged_step(workdir) -> int:
    rows = read_metrics(str(workdir), "train")
    return rows[-1]["step"] if rows else 0


def logged(workdir) -> list[dict]:
    """Every logged row but its timings (compile rows are per launch: timings only)."""
    return [
        {k: v for k, v in row.items() if k not in TIMINGS}
        for row in read_metrics(str(workdir))
        if row["split"] != "compile"
    ]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Trained in this process, as the relaunches are (no process start-up): the same run as `cnnjax train`'s."""
    workdir = tmp_path_factory.mktemp("uninterrupted")
    assert train(workdir, CONFIG, *OVERRIDES) == 0
    return workdir


def assert_same_run(workdir, reference):
    rows, reference_rows = logged(workdir), logged(reference)
    assert [(r["step"], r["split"]) for r in rows] == [(r["step"], r["split"]) for r in reference_rows]
    assert rows == reference_rows  # every logged value, bitwise
    state, reference_state = read_checkpoint_state(workdir, STEPS), read_checkpoint_state(reference, STEPS)
    leaves, reference_leaves = jax.tree.leaves(state), jax.tree.leaves(reference_state)
    assert len(leaves) == len(reference_leaves) > 0
    for a, b in zip(leaves, reference_leaves):
        np.testing.assert_array_equal(a, b)  # bitwise


def test_sigterm_at_40_percent_saves_mid_window_and_resumes_exactly(tmp_path, uninterrupted, capsys):
    """The run trains in this process (no start-up) and is stopped as a launched one is: a SIGTERM to the process."""
    with sigterm_when(lambda: last_logged_step(tmp_path) >= 35) as caught:
        assert train(tmp_path, CONFIG, *OVERRIDES) == 0
    assert not caught, "the run ended before the stop"
    stdout = capsys.readouterr().out
    stopped_at = int(stdout.split("stopped by SIGTERM at step")[1].split(";")[0])
    assert 35 <= stopped_at < STEPS and stopped_at % 30, "saved at the step boundary, not a periodic save"
    assert is_committed(str(Path(tmp_path, "checkpoints", str(stopped_at))))
    assert train(tmp_path, CONFIG, *OVERRIDES) == 0  # the relaunch
    assert_same_run(tmp_path, uninterrupted)


def test_sigkill_at_40_percent_resumes_from_the_last_checkpoint_exactly(tmp_path, uninterrupted):
    process = start(train_command(tmp_path), stdout=-1, stderr=-1)
    wait_for(
        lambda: is_committed(str(Path(tmp_path, "checkpoints", "30"))) and last_logged_step(tmp_path) >= 42, process
    )
    process.kill()
    process.communicate(timeout=60)
    assert train(tmp_path, CONFIG, *OVERRIDES) == 0  # the relaunch
    assert_same_run(tmp_path, uninterrupted)


def test_sigterm_during_an_evaluation_saves_and_redoes_it_on_resume(tmp_path, uninterrupted, monkeypatch, capsys):
    """SIGTERM arrives after the 3rd batch of the evaluation at step 50 (the raw weights and their moving average in
    one pass); the run saves step 50 and exits, logging neither; the relaunch evaluates step 50 before training on."""
    evaluate = Evaluator.__call__
    evaluations = []

    def signal_during_second_evaluation(self, state, batches, should_stop=lambda: False):
        evaluations.append(0)
        batches_seen = []

        def stop_after_third_batch():
            batches_seen.append(0)
            if len(evaluations) == 2 and len(batches_seen) == 3:  # the evaluations at steps 25 and 50
                os.kill(os.getpid(), signal.SIGTERM)
            return should_stop()

        return evaluate(self, state, batches, stop_after_third_batch)

    with monkeypatch.context() as patch:
        patch.setattr(Evaluator, "__call__", signal_during_second_evaluation)
        assert train(tmp_path, CONFIG, *OVERRIDES) == 0
    assert "stopped by SIGTERM at step 50" in capsys.readouterr().out
    assert [r["step"] for r in read_metrics(str(tmp_path), "validation")] == [25]
    assert [r["step"] for r in read_metrics(str(tmp_path), "validation_ema")] == [25]
    assert is_committed(str(tmp_path / "checkpoints" / "50"))
    assert train(tmp_path, CONFIG, *OVERRIDES) == 0
    assert_same_run(tmp_path, uninterrupted)


def test_the_run_logs_summarises_and_saves_the_moving_average(uninterrupted):
    rows = read_metrics(str(uninterrupted))
    evaluations = [(r["step"], r["split"]) for r in rows if r["split"] not in ("train", "compile")]
    periodic = [(s, split) for s in (25, 50, 75) for split in ("validation", "validation_ema")]
    final = [(STEPS, split) for split in ("validation", "validation_ema", "test", "test_ema")]
    assert evaluations == periodic + final
    summary = json.loads((uninterrupted / "summary.json").read_text())
    assert {"test_ema_accuracy", "test_ema_loss", "validation_ema_accuracy"} <= set(summary)
    assert "EMA weights: test accuracy" in summary["line"]
    state = read_checkpoint_state(uninterrupted, STEPS)
    assert jax.tree.structure(state["ema"]["params"]) == jax.tree.structure(state["params"])
    pairs = zip(jax.tree.leaves(state["ema"]["params"]), jax.tree.leaves(state["params"]), strict=True)
    assert max(np.max(np.abs(average - weight)) for average, weight in pairs) > 0

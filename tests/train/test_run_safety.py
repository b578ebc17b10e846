"""Runs are never lost the ways users break them: divergence, a damaged newest checkpoint, a kill during the
final evaluation, a second launch, Ctrl-C, a rejected config, a full disk, a read-only workdir."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from experiment_runs import experiment, train
from subprocesses import IN_TRAINER_DATA, REPO, cnnjax_train_command, device_env, read_checkpoint_state, start

from cnnjax.checkpoint.manifest import find_damage
from cnnjax.reporting import read_metrics

LENET = experiment("digits_lenet5.py")
SHORT = ("train.num_steps=40", "train.checkpoint_every_steps=10", "train.log_every_steps=10", "train.eval_every_steps=0")
# The learning rate jumps ×1e6 at step 60: the loss goes non-finite a few steps later.
DIVERGES = (
    "train.num_steps=100",
    "train.checkpoint_every_steps=20",
    "train.log_every_steps=10",
    "train.eval_every_steps=0",
    "schedule.name='piecewise'",
    "schedule.boundaries=(60,)",
    "schedule.decay_factor=1e6",
)


def _refuse(token):
    raise AssertionError(f"a bare {token}, which is not JSON")


def _strict_json_lines(path) -> list[dict]:
    return [json.loads(line, parse_constant=_refuse) for line in open(path)]


def _steps(workdir) -> list[int]:
    return sorted(int(n) for n in os.listdir(workdir / "checkpoints") if n.isdigit())


def _assert_states_equal(a: dict, b: dict) -> None:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(x, y)  # bitwise


def test_a_diverged_run_keeps_its_good_checkpoints_refuses_relaunch_and_skip_finishes(tmp_path, capsys):
    assert train(tmp_path, LENET, *DIVERGES) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and 60 < summary["step"] < 100 and "loss" in summary["metric"]
    assert f"diverged at step {summary['step']}" in err and "nonfinite=skip" in err
    steps = _steps(tmp_path)
    assert steps == summary["good_checkpoints"] and len(steps) == 3 and 60 <= steps[-1] < summary["step"]
    for step in steps:
        assert find_damage(str(tmp_path / "checkpoints" / str(step))) is None
        assert all(np.isfinite(x).all() for x in jax.tree.leaves(read_checkpoint_state(tmp_path, step)["params"]))
    _strict_json_lines(tmp_path / "metrics.jsonl")

    assert train(tmp_path, LENET, *DIVERGES) == 3  # the same command is refused, with the ways out
    assert "holds a run that diverged" in capsys.readouterr().err and _steps(tmp_path) == steps

    assert train(tmp_path, LENET, *DIVERGES, "train.nonfinite='skip'") == 0  # a launch key: resumes from 60
    summary = json.loads((tmp_path / "summary.json").read_text(), parse_constant=_refuse)
    assert summary["status"] == "completed" and summary["steps"] == 100 and summary["skipped_steps"] > 0
    assert "skipped as non-finite" in summary["line"]
    train_rows = [r for r in _strict_json_lines(tmp_path / "metrics.jsonl") if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == list(range(10, 101, 10)), "each step logged once"
    assert train_rows[-1]["skipped_steps"] == summary["skipped_steps"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A short run to the end: checkpoints 20, 30, 40 (keep 3), the final evaluation logged."""
    workdir = tmp_path_factory.mktemp("finished")
    assert train(workdir, LENET, *SHORT) == 0
    return workdir


def _largest_state_file(step_dir) -> str:
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file()]
    return str(max(files, key=lambda p: p.stat().st_size))


def _truncate(step_dir):
    path = _largest_state_file(step_dir)
    os.truncate(path, os.path.getsize(path) // 2)


def _flip_400_bytes(step_dir):
    path = _largest_state_file(step_dir)
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for i in np.random.default_rng(0).choice(len(data), 400, replace=False):
            data[i] ^= 0xFF
        f.seek(0)
        f.write(bytes(data))


DAMAGE = {
    "truncate_largest_state_file": _truncate,
    "delete_state_metadata": lambda step_dir: os.remove(step_dir / "state" / "_METADATA"),
    "empty_window_metadata": lambda step_dir: open(step_dir / "window" / "_METADATA", "w").close(),
    "flip_400_state_bytes": _flip_400_bytes,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_step_redone_exactly(finished, tmp_path, capsys, damage):
    """As after a SIGKILL right after checkpoint 40 was committed; then checkpoint 40 is damaged."""
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir)
    for name in ("summary.json", "summary.txt"):
        os.remove(workdir / name)
    DAMAGE[damage](workdir / "checkpoints" / "40")
    assert train(workdir, LENET, *SHORT) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning: checkpoint 40" in line]
    assert len(warning) == 1 and "moved it to" in warning[0]
    assert [n for n in os.listdir(workdir / "checkpoints") if n.startswith("40.damaged-")]
    _assert_states_equal(read_checkpoint_state(workdir, 40), read_checkpoint_state(finished, 40))
    assert [r["step"] for r in read_metrics(str(workdir), "train")] == [10, 20, 30, 40]


def test_a_run_killed_during_its_final_evaluation_redoes_and_logs_it(finished, tmp_path):
    """On disk after such a kill: the final checkpoint committed, no summary, no final evaluation rows."""
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir)
    reference = json.loads((finished / "summary.json").read_text())
    for name in ("summary.json", "summary.txt"):
        os.remove(workdir / name)
    rows = [r for r in _strict_json_lines(workdir / "metrics.jsonl") if r["split"] == "train"]
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert train(workdir, LENET, *SHORT) == 0
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["train_seconds"] == reference["train_seconds"] > 0, "the original training time"
    assert summary["test_accuracy"] == reference["test_accuracy"]
    logged = [(r["step"], r["split"]) for r in read_metrics(str(workdir))]
    assert logged == [(10, "train"), (20, "train"), (30, "train"), (40, "train"), (40, "validation"), (40, "test")]


def test_rejected_inputs_write_nothing_and_fail_in_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    (tmp_path / "broken.py").write_text("from cnnjax.config import base_config\n\ndef get_config(:\n    pass\n")
    cases = [
        ((LENET, tmp_path / "run", "train.batch_size=0"), "train.batch_size must be at least 1"),
        ((f"{LENET}:badarg", tmp_path / "run"), "get_config() takes no argument, but 'badarg' was given"),
        ((str(tmp_path / "broken.py"), tmp_path / "run"), "broken.py:3: invalid syntax"),
        ((LENET, tmp_path / "a_file"), "is a file, not a directory"),
    ]
    for (config, workdir, *overrides), message in cases:
        assert train(workdir, config, *overrides) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == ["a_file", "broken.py"], "nothing was written"


def _wait_for_step(workdir, process, step: int) -> None:
    deadline = time.time() + 300
    while not (rows := read_metrics(str(workdir), "train")) or rows[-1]["step"] < step:
        assert process.poll() is None and time.time() < deadline, "the run ended early"
        time.sleep(0.05)


def test_a_second_launch_is_refused_and_ctrl_c_saves(tmp_path, capsys):
    args = ("train.num_steps=100000", "train.checkpoint_every_steps=100000", "train.log_every_steps=1")
    first = start(cnnjax_train_command("experiments/digits_lenet5.py", tmp_path, *[f"--config.{a}" for a in args]),
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_step(tmp_path, first, 5)
    for launch_only in ((), ("parallel.num_devices=1",)):  # the same run, launched differently
        assert train(tmp_path, LENET, *args, *launch_only) == 2
        err = capsys.readouterr().err
        assert f"PID {first.pid}" in err and "in use by a running run" in err and len(err.strip().splitlines()) == 1
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err[-3000:]
    assert "KeyboardInterrupt" not in err and "stopped by Ctrl-C at step" in out
    stopped_at = int(out.split("stopped by Ctrl-C at step")[1].split(";")[0])
    assert _steps(tmp_path) == [stopped_at] and find_damage(str(tmp_path / "checkpoints" / str(stopped_at))) is None


def test_a_second_ctrl_c_exits_at_once():
    script = (
        "import os, signal, time\n"
        "from cnnjax.checkpoint import PreemptionWatcher\n"
        "w = PreemptionWatcher()\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "assert w.should_stop() and w.reason == 'SIGINT'\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(30)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=device_env(1), capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and "second Ctrl-C: exiting at once" in done.stderr, done.stderr


def _in_a_small_mount(tmp_path, size: str, script: str) -> subprocess.CompletedProcess:
    """Runs `script` (sh) in a new mount namespace with a `size` tmpfs at $M; $OUT keeps a copy of it."""
    mount, out = tmp_path / "mnt", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    full = f"set -e; mount -t tmpfs -o size={size} tmpfs {mount}; M={mount}; OUT={out}; {script}"
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    assert probe.returncode == 0, f"these tests need mount namespaces (as root): {probe.stderr.decode().strip()}"
    return subprocess.run(["unshare", "-rm", "sh", "-c", full], env=device_env(1), capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def _cnnjax(*args: str) -> str:
    args = (*IN_TRAINER_DATA, *args)
    return " ".join([sys.executable, "-m", "cnnjax.cli", "train", "--config", LENET, *[f"--config.{a}" for a in args]])


def test_a_full_disk_stops_the_run_in_one_line_with_earlier_checkpoints_intact(tmp_path):
    # Room for the config, logs and two checkpoints (~0.56 MB each), not a third.
    run = _cnnjax(*SHORT, "train.keep_checkpoints=5")
    done = _in_a_small_mount(tmp_path, "1600k", f"{run} --workdir $M/run || echo exit=$?; cp -a $M/run $OUT/")
    errors = [line for line in done.stderr.splitlines() if "cnnjax: error" in line]
    assert "exit=2" in done.stdout and len(errors) == 1, done.stderr[-3000:]
    assert "No space left on device" in errors[0] and "intact checkpoints" in errors[0]
    workdir = tmp_path / "out" / "run"
    steps = _steps(workdir)
    assert steps and all(find_damage(str(workdir / "checkpoints" / str(s))) is None for s in steps)
    assert f"intact checkpoints in {tmp_path / 'mnt'}/run/checkpoints: {', '.join(map(str, steps))}" in errors[0] or (
        f"its intact checkpoints: {', '.join(map(str, steps))}" in errors[0]
    )


def test_a_read_only_workdir_is_refused_in_one_line_with_its_checkpoints_intact(tmp_path):
    run = _cnnjax(*SHORT)
    script = f"{run} --workdir $M/run; mount -o remount,ro $M; {run} --workdir $M/run || echo exit=$?; cp -a $M/run $OUT/"
    done = _in_a_small_mount(tmp_path, "16m", script)
    assert "exit=2" in done.stdout, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cnnjax: error:") and "is not writable (a read-only filesystem)" in last
    workdir = tmp_path / "out" / "run"
    assert _steps(workdir) == [20, 30, 40]
    assert all(find_damage(str(workdir / "checkpoints" / str(s))) is None for s in (20, 30, 40))

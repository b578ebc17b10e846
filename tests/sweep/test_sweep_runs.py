"""`cnnjax sweep run` end to end on shrunk digits runs: a 2-point × 2-seed sweep, a relaunch that opens no
finished run, a seed added later (its sweep SIGKILLed mid-run, leaving no child, then relaunched with
`--parallel 2`), failed and diverged runs among finished ones, and a bad point refused before anything runs."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

from cnnjax.cli import main
from cnnjax.errors import EXIT_INTERRUPTED
from cnnjax.reporting import read_metrics
from cnnjax.sweep.record import lock_held
from cnnjax.sweep.report import BEST, number
from cnnjax.sweep.statistics import describe
from tests.subprocesses import IN_TRAINER_DATA, REPO, TINY_RUN, device_env
from tests.sweep.report_fixture import table

SWEEP_FILE = "experiments/ablations/digits_width.py"
SHRUNK = [*TINY_RUN, "--config.train.num_steps=4", *[f"--config.{o}" for o in IN_TRAINER_DATA]]


def sweep_command(sweep_dir, seeds: int, config: str = SWEEP_FILE, *options: str) -> list[str]:
    command = [sys.executable, "-m", "cnnjax.cli", "sweep", "run", "--config", str(REPO / config)]
    return [*command, "--workdir", str(sweep_dir), "--seeds", str(seeds), *options, *SHRUNK]


def run_sweep(sweep_dir, seeds: int, config: str = SWEEP_FILE, *options: str) -> subprocess.CompletedProcess:
    command = sweep_command(sweep_dir, seeds, config, *options)
    return subprocess.run(command, env=device_env(1), capture_output=True, text=True, timeout=300, cwd=REPO)


def sweep_in_this_process(capsys, sweep_dir, seeds: int) -> tuple[int, str]:
    """`cnnjax sweep run` in the test's process (no start-up), for a sweep with nothing to launch: (exit code,
    stdout)."""
    capsys.readouterr()
    code = main(sweep_command(sweep_dir, seeds)[3:])
    return code, capsys.readouterr().out


def run_files(sweep_dir, runs: list[str]) -> dict[str, tuple[bytes, int]]:
    """Every file of the runs' workdirs: its bytes and mtime."""
    files = {}
    for run in runs:
        for root, _, names in os.walk(sweep_dir / run):
            for name in names:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    files[path] = (f.read(), os.stat(path).st_mtime_ns)
    return files


def assert_results_match_summaries(sweep_dir, runs: list[str]) -> None:
    """results.csv's rows and report.md's per-point mean and n are the completed runs' summaries'."""
    with open(sweep_dir / "results.csv", newline="") as f:
        rows = {f"{row['point']}/seed{row['seed']}": row for row in csv.DictReader(f)}
    assert sorted(rows) == sorted(runs)
    accuracies = {}
    for run, row in rows.items():
        with open(sweep_dir / run / "summary.json") as f:
            summary = json.load(f)
        assert row["status"] == summary["status"] == "completed"
        assert float(row["test_accuracy"]) == summary["test_accuracy"]
        assert float(row["test_loss"]) == summary["test_loss"]
        assert int(row["steps"]) == summary["steps"] == 4
        assert float(row["train_seconds"]) == summary["train_seconds"]
        accuracies.setdefault(row["point"], []).append(summary["test_accuracy"])
    points = {row["point"].removesuffix(f" {BEST}"): row for row in table(sweep_dir / "report.md", "point")}
    assert list(points) == list(accuracies)
    for point, values in accuracies.items():
        mean = points[point]["test_accuracy mean ± std"].split(" ± ")[0]
        assert (mean, points[point]["n"]) == (number(describe(values).mean), str(len(values)))
    assert (sweep_dir / "report.png").is_file()


def started_runs(stdout: str) -> dict[str, set[int]]:
    """The runs a sweep's output says it started, each with the CPUs it was given (empty: all of them)."""
    started = {}
    for match in re.finditer(r"^\[\d+/\d+\] (\S+): started(?: \(CPUs ([\d,-]+)\))?$", stdout, re.MULTILINE):
        cpus = set()
        for piece in filter(None, (match[2] or "").split(",")):
            first, _, last = piece.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
        started[match[1]] = cpus
    return started


def wait_for_lock_holder(lock_path, timeout: float = 120) -> int:
    """The PID that `run.lock` names, once a run has taken it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(lock_path) as f:
                return json.loads(f.read())["pid"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise AssertionError(f"no run took {lock_path}")


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return False


def holders(path) -> list[str]:
    """The command lines of the processes with `path` open."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd")):
                with open(f"/proc/{pid}/cmdline") as f:
                    found.append(f.read().replace("\0", " "))
        except OSError:
            pass
    return found


def test_sweep_runs_resumes_and_adds_seeds(tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    first = [f"widths-{w}/seed{s}" for w in ("8x16", "16x32") for s in (0, 1)]
    done = run_sweep(sweep_dir, seeds=2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": started") == 4 and done.stdout.count(": completed: ") == 4
    assert_results_match_summaries(sweep_dir, first)
    finished = run_files(sweep_dir, first)

    code, out = sweep_in_this_process(capsys, sweep_dir, seeds=2)  # every run finished: nothing starts
    assert code == 0, out
    assert "started" not in out and out.count("(not launched)") == 4
    assert run_files(sweep_dir, first) == finished
    assert_results_match_summaries(sweep_dir, first)

    # A third seed: SIGKILL the sweep once its first new run holds its lock; the run must die with it.
    sweep = subprocess.Popen(sweep_command(sweep_dir, seeds=3), env=device_env(1), cwd=REPO, stdout=subprocess.DEVNULL)
    child = wait_for_lock_holder(sweep_dir / "widths-8x16/seed2/run.lock")
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    run_dir = sweep_dir / "widths-8x16/seed2"
    deadline = time.monotonic() + 10  # the kernel's clean-up of a killed process is not instantaneous
    while (process_alive(child) or lock_held(str(run_dir))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child), "the run outlived its SIGKILLed sweep"
    assert not lock_held(str(run_dir)), f"run.lock still held, by: {holders(run_dir / 'run.lock')}"

    resumed = run_sweep(sweep_dir, 3, SWEEP_FILE, "--parallel", "2")  # the two new runs at once
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    started = started_runs(resumed.stdout)
    assert sorted(started) == ["widths-16x32/seed2", "widths-8x16/seed2"]
    first_cpus, second_cpus = started.values()
    assert first_cpus and second_cpus and not first_cpus & second_cpus
    assert first_cpus | second_cpus <= os.sched_getaffinity(0)
    assert run_files(sweep_dir, first) == finished
    assert_results_match_summaries(sweep_dir, [*first, "widths-8x16/seed2", "widths-16x32/seed2"])


def write_sweep_file(path, points: str) -> str:
    """A sweep file over digits_simple_cnn.py whose get_sweep() returns `points` (Python source)."""
    path.write_text(
        "from cnnjax.config import load_config\n"
        f"def get_config():\n    return load_config({str(REPO / 'experiments/digits_simple_cnn.py')!r})\n"
        f"def get_sweep():\n    return {points}\n"
    )
    return str(path)


def test_failed_and_diverged_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    points = "[{'model.name': 'no_such_model'}, {'optimizer.learning_rate': 1e30, 'schedule.warmup_steps': 0}, {}]"
    done = run_sweep(tmp_path / "sweep", seeds=1, config=write_sweep_file(tmp_path / "sweep.py", points))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[1/3] name-no_such_model/seed0: failed: exit code 2: " in done.stdout
    assert "[2/3] learning_rate-1e+30_warmup_steps-0/seed0: diverged: loss and gradient" in done.stdout
    assert "[3/3] base/seed0: completed: " in done.stdout
    with open(tmp_path / "sweep" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["status"] for row in rows] == ["failed", "diverged", "completed"]
    assert rows[0]["reason"].startswith("exit code 2: ") and "no_such_model" in rows[0]["reason"]
    assert rows[1]["reason"].startswith("loss and gradient") and rows[1]["test_accuracy"] == ""


def test_a_bad_point_key_fails_before_anything_runs(tmp_path):
    sweep_file = write_sweep_file(tmp_path / "sweep.py", "[{'train.num_steps': 4}, {'optimizer.learning_rat': 0.1}]")
    done = run_sweep(tmp_path / "sweep", seeds=1, config=sweep_file)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "cnnjax: error: sweep point learning_rat-0.1: unknown config key 'optimizer.learning_rat'. "
        "Did you mean 'optimizer.learning_rate'?"
    )
    assert not (tmp_path / "sweep").exists()


def test_a_stop_signal_reaches_the_running_run_which_saves_and_resumes_on_relaunch(tmp_path):
    """SIGTERM to the sweep is passed to its run, which saves and stops (pending); a relaunch finishes it."""
    sweep_dir, sweep_file = tmp_path / "sweep", write_sweep_file(tmp_path / "sweep.py", "[{}]")
    command = sweep_command(sweep_dir, 1, sweep_file)
    command = [*command[: command.index(SHRUNK[0])], *TINY_RUN, "--config.train.num_steps=400"]
    sweep = subprocess.Popen(command, env=device_env(1), cwd=REPO, stdout=subprocess.PIPE, text=True)
    run_dir = sweep_dir / "base" / "seed0"
    child = wait_for_lock_holder(run_dir / "run.lock")
    deadline = time.monotonic() + 120
    while not read_metrics(str(run_dir), "train") and time.monotonic() < deadline:  # training, past its compile
        time.sleep(0.05)
    sweep.send_signal(signal.SIGTERM)
    out, _ = sweep.communicate(timeout=120)
    assert sweep.returncode == EXIT_INTERRUPTED, out
    assert "base/seed0: pending (stopped and saved: a relaunch resumes it)" in out
    saved = int(re.search(r"SIGTERM: saved step (\d+), stopping", (sweep_dir / "base" / "seed0.log").read_text())[1])
    assert 0 < saved < 400 and os.listdir(run_dir / "checkpoints") == [str(saved)]
    assert not (run_dir / "summary.json").exists()
    assert not process_alive(child) and not lock_held(str(run_dir))

    resumed = subprocess.run(command, env=device_env(1), capture_output=True, text=True, timeout=300, cwd=REPO)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 400
    steps = [row["step"] for row in read_metrics(str(run_dir), "train")]
    assert steps == sorted(set(steps)) and steps[-1] == 400 and saved in steps, "resumed where the run stopped"

"""The sweep's executors: the local executor's shares of the machine and its children's set-up, the SLURM
executor's options and sbatch text (no SLURM needed), and a sweep through submitit's local executor."""

import csv
import os
import signal
import subprocess
import sys

import pytest
import submitit

from cnnjax import cli
from cnnjax.errors import InvalidInputError
from cnnjax.sweep.child import TrainCommand, child_setup
from cnnjax.sweep.command import sweep_run
from cnnjax.sweep.definition import SweepDefinitionError
from cnnjax.sweep.local_executor import describe, machine_shares, split
from cnnjax.sweep.slurm_executor import SLURM_DIR, SlurmExecutor, TrainJob
from cnnjax.sweep.slurm_options import additional_flags, slurm_options
from tests.subprocesses import REPO, device_env
from tests.sweep.test_sweep_runs import SHRUNK, SWEEP_FILE

CPUS = set(range(8))


@pytest.fixture
def eight_cpus(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: CPUS)
    for name in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "")  # no nvidia-smi: no GPU unless CUDA_VISIBLE_DEVICES names some


def test_split_cuts_contiguous_blocks_larger_first():
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split(["a", "b"], 2) == [["a"], ["b"]]


def test_parallel_runs_get_disjoint_cpus_and_as_many_openmp_threads(eight_cpus):
    assert machine_shares(1)[0].cpus is None
    shares = machine_shares(3)
    assert [share.cpus for share in shares] == [(0, 1, 2), (3, 4, 5), (6, 7)]
    assert [share.env["OMP_NUM_THREADS"] for share in shares] == ["3", "3", "2"]
    assert describe(shares[0]) == "CPUs 0-2"


def test_parallel_runs_get_disjoint_gpus(eight_cpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's setting is kept
    shares = machine_shares(2)
    assert [share.env for share in shares] == [{"CUDA_VISIBLE_DEVICES": "4,5"}, {"CUDA_VISIBLE_DEVICES": "6,7"}]
    assert describe(shares[1]) == "CPUs 4-7; GPUs 6,7"
    with pytest.raises(InvalidInputError, match=r"^--parallel 5: 4 GPUs are visible, one per run at least$"):
        machine_shares(5)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the runs use no GPU
    assert all("CUDA_VISIBLE_DEVICES" not in share.env for share in machine_shares(8))


def test_more_parallel_runs_than_cpus_are_refused_before_anything_runs(tmp_path, capsys):
    cores = len(os.sched_getaffinity(0))
    command = ["sweep", "run", "--config", str(REPO / SWEEP_FILE), "--workdir", str(tmp_path / "sweep")]
    assert cli.main([*command, "--parallel", str(cores + 1)]) == 2
    assert capsys.readouterr().err == (
        f"cnnjax: error: --parallel {cores + 1}: this sweep may run on {cores} CPUs, one per run at least\n"
    )
    assert cli.main([*command, "--slurm_time", "10"]) == 2
    assert capsys.readouterr().err == "cnnjax: error: --slurm_time is for --executor slurm\n"
    assert not (tmp_path / "sweep").exists()


def test_a_child_runs_on_its_cpus_and_ignores_the_requeue_signal():
    cpu = min(os.sched_getaffinity(0))
    report = "import os, signal as s; print(sorted(os.sched_getaffinity(0)), s.getsignal(s.SIGUSR2) == s.SIG_IGN)"
    done = subprocess.run(
        [sys.executable, "-c", report],
        preexec_fn=child_setup(os.getpid(), (cpu,), (signal.SIGUSR2,)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [f"[{cpu}]", "True"]


def write_slurm_sweep(path, slurm: str) -> str:
    path.write_text(
        f"from cnnjax.config import load_config\n"
        f"def get_config():\n    return load_config({str(REPO / 'experiments/digits_simple_cnn.py')!r})\n"
        f"def get_sweep():\n    return [{{}}]\n"
        f"def get_slurm():\n    return {slurm}\n"
    )
    return str(path)


def test_the_sbatch_file_holds_the_sweep_files_and_command_lines_options(tmp_path, monkeypatch):
    monkeypatch.setattr(submitit.slurm.slurm.shutil, "which", lambda name: f"/usr/bin/{name}")  # "on SLURM"
    spec = write_slurm_sweep(tmp_path / "sweep.py", "{'partition': 'cpu', 'time': 60, 'additional': {'qos': 'low'}}")
    command_line = {"partition": "gpu", "gpus_per_task": 2, "mem": "32G", "additional": additional_flags(["qos=high"])}
    options = slurm_options(spec, command_line)
    executor = SlurmExecutor(str(tmp_path / "sweep"), options, parallel=4)
    text = executor.submitit._executor._make_submission_file_text("python -m submitit.core._submit", "0")
    flags = {line for line in text.splitlines() if line.startswith("#SBATCH ")}
    expected = ["partition=gpu", "time=60", "gpus-per-task=2", "mem=32G", "qos=high", "job-name=cnnjax-sweep-sweep"]
    assert {f"#SBATCH --{flag}" for flag in expected} <= flags
    assert executor.submitit.parameters["array_parallelism"] == 4
    assert str(tmp_path / "sweep" / SLURM_DIR) in text  # submitit's logs


def test_a_requeued_job_stops_its_run_and_resumes_it_in_a_fresh_task():
    class Child:
        signals = []

        def forward(self, signum):
            self.signals.append(signum)

        def wait(self):
            return 0

    command = TrainCommand("base/seed0", "sweep.py", "/sweep/base/seed0", ("seed=0",))
    job = TrainJob(command)
    job._child = Child()
    requeued = job.checkpoint()
    assert Child.signals == [signal.SIGTERM]  # the run saves and stops before the job is requeued
    assert isinstance(requeued.function, TrainJob) and requeued.function.command == command
    assert requeued.function._child is None and not requeued.args


def test_a_stopped_slurm_sweep_cancels_the_jobs_that_have_not_ended(tmp_path):
    class Job:
        def __init__(self, job_id):
            self.job_id, self.cancelled = job_id, False

        def done(self):
            return False

        def cancel(self, check):
            self.cancelled = True

    executor = SlurmExecutor(str(tmp_path), {"time": 10, "additional": {}}, None, "local")
    jobs = [Job("1_0"), Job("1_1")]
    executor.submitit.submit_array = lambda tasks: jobs[: len(tasks)]
    commands = [TrainCommand(f"p/seed{seed}", "sweep.py", f"/sweep/p/seed{seed}", ()) for seed in (0, 1)]
    events = executor.execute(commands)
    assert [next(events), next(events)] == [("p/seed0", "submitted (job 1_0)"), ("p/seed1", "submitted (job 1_1)")]
    executor.stop(signal.SIGINT)
    assert list(events) == [] and all(job.cancelled for job in jobs)


def test_slurm_options_are_checked(tmp_path):
    with pytest.raises(SweepDefinitionError, match=r"get_slurm\(\) key 'gpus' is not one of partition, time, "):
        slurm_options(write_slurm_sweep(tmp_path / "a.py", "{'gpus': 1}"), {})
    with pytest.raises(SweepDefinitionError, match=r"get_slurm\(\) 'time' must be a int, got '10'$"):
        slurm_options(write_slurm_sweep(tmp_path / "b.py", "{'time': '10'}"), {})
    with pytest.raises(InvalidInputError, match=r"^--executor slurm needs --slurm_time MINUTES"):
        slurm_options(write_slurm_sweep(tmp_path / "c.py", "{}"), {"time": None})
    with pytest.raises(InvalidInputError, match=r"^--slurm_additional takes KEY=VALUE"):
        additional_flags(["account"])


def test_a_sweep_through_submitits_local_executor(tmp_path, monkeypatch, capsys):
    for name, value in device_env(1).items():  # what the jobs inherit
        monkeypatch.setenv(name, value)
    sweep_dir = str(tmp_path / "sweep")
    overrides = [override.removeprefix("--config.") for override in SHRUNK]
    options = slurm_options(str(REPO / SWEEP_FILE), {"time": 10, "partition": "ignored-here", "additional": {}})
    code = sweep_run(
        str(REPO / SWEEP_FILE), sweep_dir, 1, overrides, lambda: SlurmExecutor(sweep_dir, options, None, "local")
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count(": submitted (job ") == 2 and out.count(": completed: ") == 2
    with open(os.path.join(sweep_dir, "results.csv"), newline="") as f:
        assert [(row["point"], row["status"]) for row in csv.DictReader(f)] == [
            ("widths-8x16", "completed"),
            ("widths-16x32", "completed"),
        ]
    assert any(name.endswith("_log.out") for name in os.listdir(os.path.join(sweep_dir, SLURM_DIR)))

"""`--executor slurm`: the runs to launch as one SLURM job array through submitit, one array task per run.

A task (`TrainJob`, on a node) runs its run's `cnnjax train` as a `ChildRun` that dies with the task and
ignores submitit's requeue signal (SIGUSR2, which SLURM may send to every process of the job); the task
passes SIGINT and SIGTERM (scancel, preemption) on to it, so the run saves and stops. A `cnnjax train`
that exits non-zero makes the job fail (`RunFailedError`). When SLURM signals the job `signal_delay_s`
(submitit's 90 s) before its time limit, or on preemption where the cluster signals it, submitit calls
`TrainJob.checkpoint`: the run is stopped (it saves) and the job requeued with a fresh `TrainJob`, whose
`cnnjax train` resumes from the run's checkpoints (submitit requeues a job 3 times after time-outs at most).

The sweep submits the array, then waits for the jobs, reporting each run as its job ends. On Ctrl-C or
SIGTERM it cancels the jobs that have not ended (scancel: SLURM sends the running ones SIGTERM, so they
save; queued ones never start) and returns without waiting for them; a relaunch of the sweep submits the
unfinished runs again, which resume. submitit's files (sbatch scripts, pickles, the tasks' own logs) are in
`DIR/slurm/`; a run's output is in `DIR/<point>/seed<k>.log`, as with local runs.
"""

import os
import signal
import time
from collections.abc import Iterator

import submitit

from cnnjax.errors import InvalidInputError
from cnnjax.sweep.child import FORWARDED, ChildRun, TrainCommand
from cnnjax.sweep.executor import Ended, Launched
from cnnjax.sweep.slurm_options import submitit_parameters

SLURM_DIR = "slurm"  # submitit's folder in the sweep directory
POLL_SECONDS = 1.0  # how often the jobs that have not ended are checked
REQUEUE_SIGNAL = getattr(signal, f"SIG{submitit.JobEnvironment.USR_SIG}")


class RunFailedError(RuntimeError):
    """A run's `cnnjax train` exited non-zero; the message is how it ended (`ChildRun.ending`)."""


class TrainJob(submitit.helpers.Checkpointable):
    """One array task: the run's `cnnjax train`, requeued (and so resumed) near the time limit (module
    docstring). Returns how the run ended; raises RunFailedError when it exited non-zero."""

    def __init__(self, command: TrainCommand):
        self.command = command
        self._child: ChildRun | None = None  # set while the run's process lives (never pickled)

    def __call__(self) -> str:
        child = self._child = ChildRun(self.command, ignored=(REQUEUE_SIGNAL,))
        previous = {signum: signal.signal(signum, lambda signum, frame: child.forward(signum)) for signum in FORWARDED}
        try:
            code = child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._child = None
        if code != 0:
            raise RunFailedError(child.ending())
        return child.ending()

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """Stops the run (it saves) and returns the fresh task that resumes it once requeued."""
        del args, kwargs
        if self._child is not None:
            self._child.forward(signal.SIGTERM)
            self._child.wait()
        return submitit.helpers.DelayedSubmission(TrainJob(self.command))


class SlurmExecutor:
    """Runs commands as a job array (module docstring). `cluster="local"` runs the same jobs through
    submitit's local executor (which ignores the SLURM parameters), for tests."""

    def __init__(self, sweep_dir: str, options: dict, parallel: int | None, cluster: str = "slurm"):
        if cluster == "slurm" and submitit.SlurmExecutor.affinity() <= 0:
            raise InvalidInputError("--executor slurm: SLURM's srun is not on PATH; launch from a SLURM login node")
        name = f"cnnjax-sweep-{os.path.basename(os.path.abspath(sweep_dir))}"
        self.submitit = submitit.AutoExecutor(os.path.join(sweep_dir, SLURM_DIR), cluster=cluster)
        self.submitit.update_parameters(**submitit_parameters(options, name, parallel))
        self._stopped: int | None = None

    def execute(self, commands: list[TrainCommand]) -> Iterator[Launched | Ended]:
        if not commands:
            return
        jobs = self.submitit.submit_array([TrainJob(command) for command in commands])
        running = list(zip(commands, jobs, strict=True))
        for command, job in running:
            yield Launched(command.path, f"submitted (job {job.job_id})")
        while running:
            if self._stopped is not None:
                for _, job in running:
                    job.cancel(check=False)
                return
            ended = [(command, job) for command, job in running if job.done()]
            for command, job in ended:
                running.remove((command, job))
                yield Ended(command.path, job_ending(job))
            if not ended:
                time.sleep(POLL_SECONDS)

    def stop(self, signum: int) -> None:
        self._stopped = signum


def job_ending(job: submitit.Job) -> str:
    """How an ended job's run ended: its `TrainJob`'s result, its RunFailedError's message, or the first
    line of submitit's error (a job SLURM killed, a task that could not start), after the job id."""
    error = job.exception()
    if error is None:
        return job.result()
    lines = str(error).splitlines()
    prefix = f"{RunFailedError.__module__}.{RunFailedError.__qualname__}: "
    failures = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]
    return f"job {job.job_id}: {failures[-1] if failures else lines[0]}"

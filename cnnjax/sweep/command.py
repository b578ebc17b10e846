"""`cnnjax sweep run` and `cnnjax sweep report`: which runs a sweep launches, and what it records of them.

A run is launched unless its `summary.json` says it finished (completed or diverged: never opened again)
or a live process holds its lock (reported as running); an interrupted run resumes in its `cnnjax train`.
The executor (`executor.SweepExecutor`: local children, or a SLURM job array) runs them. A run that fails
(it ends without a finished summary, e.g. a workdir holding another definition of the run) is recorded
with its reason and the sweep goes on. SIGINT and SIGTERM are passed to the executor, which stops the
runs (they save) and launches no more; a run so stopped is pending, and a relaunch resumes it.
`results.csv`, `report.md` and `report.png` are rewritten after each run ends and at the end; `cnnjax sweep
report` rewrites them from whatever has finished.
"""

import os
import signal
from collections.abc import Callable

from cnnjax.errors import EXIT_INTERRUPTED, InvalidInputError
from cnnjax.sweep.child import FORWARDED
from cnnjax.sweep.definition import load_sweep
from cnnjax.sweep.executor import Launched, SweepExecutor
from cnnjax.sweep.record import FINISHED, RECORD_FILE, read_record, run_state, write_record
from cnnjax.sweep.report import REPORT_FILE, write_report
from cnnjax.sweep.results import RESULTS_FILE, divergence_reason, write_results
from cnnjax.sweep.seed_groups import check_no_vmap_key, launches

EXIT_INCOMPLETE = 1  # the sweep went through but not every run completed


def sweep_run(
    spec: str,
    sweep_dir: str,
    num_seeds: int,
    command_line: list[str],
    make_executor: Callable[[], SweepExecutor],
    vmap_seeds: bool = False,
) -> int:
    """Runs the sweep (module docstring) with the executor `make_executor` builds (and checks) once the sweep's
    definition is checked, before anything is written; returns 0 when every run completed. `vmap_seeds`: the
    seeds of a point train as one program (`cnnjax.sweep.seed_groups`)."""
    sweep = load_sweep(spec, command_line, num_seeds)
    runs = sweep.runs
    check_no_vmap_key(runs, command_line)
    executor = make_executor()
    paths = {run.path for run in runs}
    failures = {path: reason for path, reason in read_record(sweep_dir)["failures"].items() if path in paths}
    write_record(sweep_dir, sweep, failures)
    tags = {run.path: f"[{index}/{len(runs)}] {run.path}" for index, run in enumerate(runs, 1)}
    to_launch = []
    for run in runs:
        status, summary = run_state(os.path.join(sweep_dir, run.path), None)
        if status in FINISHED or status == "running":
            print(f"{tags[run.path]}: {status}{_result(status, summary)} (not launched)", flush=True)
        else:
            to_launch.append(run)
    planned = launches(spec, sweep_dir, to_launch, command_line, vmap_seeds)
    trains = {launch.command.path: launch.runs for launch in planned}  # what each command trains
    stop = _StopForwarding(executor)
    try:
        for event in executor.execute([launch.command for launch in planned]):
            if isinstance(event, Launched):
                for run in trains[event.path]:
                    print(f"{tags[run.path]}: {event.how}", flush=True)
                continue
            outcomes = {}
            for run in trains[event.path]:
                outcomes[run.path] = _outcome(os.path.join(sweep_dir, run.path), event.ending, stop.signum)
                if reason := outcomes[run.path][1]:
                    failures[run.path] = reason
                else:
                    failures.pop(run.path, None)
            write_record(sweep_dir, sweep, failures)
            write_outputs(sweep_dir)
            for path, (status, reason) in outcomes.items():
                _, summary = run_state(os.path.join(sweep_dir, path), reason)
                print(f"{tags[path]}: {status}{': ' + reason if reason else _result(status, summary)}", flush=True)
    finally:
        stop.restore()
    rows = write_outputs(sweep_dir)
    completed = sum(row["status"] == "completed" for row in rows)
    print(f"sweep: {completed} of {len(rows)} runs completed; {os.path.join(sweep_dir, REPORT_FILE)}", flush=True)
    if stop.signum is not None:
        return EXIT_INTERRUPTED
    return 0 if completed == len(rows) else EXIT_INCOMPLETE


def sweep_report(sweep_dir: str) -> int:
    """Rewrites `results.csv`, `report.md` and `report.png` from the runs' files; returns 0."""
    if not os.path.isfile(os.path.join(sweep_dir, RECORD_FILE)):
        raise InvalidInputError(f"{sweep_dir} holds no sweep ({RECORD_FILE}): launch it with cnnjax sweep run")
    rows = write_outputs(sweep_dir)
    written = ", ".join(os.path.join(sweep_dir, name) for name in (RESULTS_FILE, REPORT_FILE))
    print(f"{len(rows)} runs: {written}", flush=True)
    return 0


def write_outputs(sweep_dir: str) -> list[dict]:
    """Rewrites `results.csv`, `report.md` and `report.png` (once a run has completed); returns the csv's rows."""
    rows = write_results(sweep_dir)
    write_report(sweep_dir)
    return rows


def _outcome(workdir: str, ending: str, stopped_by: int | None) -> tuple[str, str]:
    """(status, failure reason or '') of a run whose process or job ended as `ending` says."""
    status, _ = run_state(workdir, None)
    if status in FINISHED:
        return status, ""
    if stopped_by is not None:
        return "pending", ""  # stopped and saved: a relaunch resumes it
    return "failed", ending


def _result(status: str, summary: dict) -> str:
    if status == "completed":
        return f": {summary['line']}"
    if status == "pending":
        return " (stopped and saved: a relaunch resumes it)"
    return f": {divergence_reason(summary)}" if status == "diverged" else ""


class _StopForwarding:
    """While installed, SIGINT and SIGTERM are recorded and passed to the executor."""

    def __init__(self, executor: SweepExecutor):
        self.executor = executor
        self.signum: int | None = None
        self._previous = {signum: signal.signal(signum, self._handle) for signum in FORWARDED}

    def _handle(self, signum, frame) -> None:
        del frame
        self.signum = signum
        self.executor.stop(signum)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

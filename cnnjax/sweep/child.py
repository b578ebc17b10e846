"""A sweep's run as a child `cnnjax train` process that dies with the sweep.

The child runs in a process group of its own (a Ctrl-C at the terminal reaches the sweep only, which
forwards it once, so the run saves and stops) with `PR_SET_PDEATHSIG` = SIGKILL (Linux): when the sweep
dies, however, the run dies too and its lock is freed. Its output goes to `<point>/seed<k>.log` beside its
workdir, never into the workdir.
"""

import ctypes
import os
import signal
import subprocess
import sys

from cnnjax.data.workers import PR_SET_PDEATHSIG  # the one definition of the prctl option

FORWARDED = (signal.SIGINT, signal.SIGTERM)


class ChildRun:
    """Starts `cnnjax train` for one run; `forward(signum)` passes a stop signal on while it runs."""

    def __init__(self, spec: str, workdir: str, overrides: list[str], log_path: str):
        command = [sys.executable, "-m", "cnnjax.cli", "train", "--config", spec, "--workdir", workdir]
        command += [f"--config.{override}" for override in overrides]
        self.log_path = log_path
        with open(log_path, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                process_group=0,
                preexec_fn=_die_with_parent(os.getpid()),
            )

    def forward(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self) -> int:
        return self.process.wait()

    def error_line(self) -> str:
        """The child's `cnnjax: error:` message (on one line), or the last line of its output."""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("cnnjax: error:")]
        tail = lines[starts[-1] :] if starts else lines[-1:]
        return " ".join(line.strip() for line in tail).removeprefix("cnnjax: error:").strip()


def _die_with_parent(parent_pid: int):
    def preexec() -> None:  # in the child, before exec: async-signal-safe work only
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(1)
        if os.getppid() != parent_pid:  # the sweep died before prctl took effect
            os._exit(1)

    return preexec

"""A sweep's run as a child `cnnjax train` process that dies with the process that started it.

The child runs in a process group of its own (a Ctrl-C at the terminal reaches the sweep only, which
forwards it once, so the run saves and stops) with `PR_SET_PDEATHSIG` = SIGKILL (Linux): when its parent
dies, however, the run dies too and its lock is freed. Its output goes to `<point>/seed<k>.log` beside its
workdir, never into the workdir. A `Share` pins it to CPUs and adds environment variables; signals named
in `ignored` are ignored by the child (and, through exec, by `cnnjax train`).
"""

import ctypes
import dataclasses
import os
import signal
import subprocess
import sys
from typing import NamedTuple

from cnnjax.data.workers import PR_SET_PDEATHSIG  # the one definition of the prctl option

FORWARDED = (signal.SIGINT, signal.SIGTERM)


@dataclasses.dataclass(frozen=True)
class TrainCommand:
    """`cnnjax train` of one sweep run (picklable: a SLURM job carries it)."""

    path: str  # the run's workdir relative to the sweep's (`Run.path`)
    spec: str
    workdir: str
    overrides: tuple[str, ...]  # `key=value`, each passed as `--config.key=value`

    @property
    def log_path(self) -> str:
        return f"{self.workdir}.log"

    def argv(self) -> list[str]:
        command = [sys.executable, "-m", "cnnjax.cli", "train", "--config", self.spec, "--workdir", self.workdir]
        return command + [f"--config.{override}" for override in self.overrides]


class Share(NamedTuple):
    """What of the machine a child gets: `cpus` (None: whatever its parent may use) and variables set in its
    environment."""

    cpus: tuple[int, ...] | None = None
    env: dict[str, str] = {}


WHOLE_MACHINE = Share()


class ChildRun:
    """Starts the `cnnjax train` of `command`; `forward(signum)` passes a stop signal on while it runs."""

    def __init__(self, command: TrainCommand, share: Share = WHOLE_MACHINE, ignored: tuple[int, ...] = ()):
        self.log_path = command.log_path
        os.makedirs(os.path.dirname(command.workdir), exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                command.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **share.env},
                process_group=0,
                preexec_fn=child_setup(os.getpid(), share.cpus, ignored),
            )

    def forward(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self) -> int:
        return self.process.wait()

    def ending(self) -> str:
        """How the ended child ended: `exit code N: ` and its error message or last line of output."""
        return f"exit code {self.process.returncode}: {self.error_line()}"

    def error_line(self) -> str:
        """The child's `cnnjax: error:` message (on one line), or the last line of its output."""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("cnnjax: error:")]
        tail = lines[starts[-1] :] if starts else lines[-1:]
        return " ".join(line.strip() for line in tail).removeprefix("cnnjax: error:").strip()


def child_setup(parent_pid: int, cpus: tuple[int, ...] | None, ignored: tuple[int, ...]):
    """The child's set-up between fork and exec: dies with `parent_pid`, runs on `cpus`, ignores `ignored`."""

    def preexec() -> None:  # in the child, before exec: no locks, no threads
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(1)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)

    return preexec

"""What a sweep asks of an executor (`local_executor`, `slurm_executor`): run `cnnjax train` commands and say
when each starts and ends.

Rules every executor keeps: each command runs at most once per `execute`, as an ordinary `cnnjax train`
whose output is appended to its log; `execute` yields `Launched` for a command before its `Ended`, and
returns once every launched command has ended or, after `stop`, as soon as what runs was told to stop (it
launches nothing more). `stop` is called from a signal handler: it only records the signal and passes it on.
"""

from collections.abc import Iterator
from typing import NamedTuple, Protocol

from cnnjax.sweep.child import TrainCommand


class Launched(NamedTuple):
    path: str  # TrainCommand.path
    how: str  # e.g. "started", "submitted as slurm job 12_3"


class Ended(NamedTuple):
    path: str
    ending: str  # how its process or job ended, e.g. "exit code 2: <its error message>"


class SweepExecutor(Protocol):
    def execute(self, commands: list[TrainCommand]) -> Iterator[Launched | Ended]:
        """Runs `commands` (module docstring), yielding as they start and end."""
        ...

    def stop(self, signum: int) -> None:
        """A SIGINT or SIGTERM reached the sweep: stop the runs (they save) and launch no more."""
        ...

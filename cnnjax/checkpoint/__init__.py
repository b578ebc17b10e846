"""Orbax checkpoints with checksums, preemption and Ctrl-C handling, and the one-run-per-workdir rule."""

from cnnjax.checkpoint.lock import WorkdirLock
from cnnjax.checkpoint.manager import Checkpointer, is_committed, quarantine_uncommitted_steps
from cnnjax.checkpoint.preemption import PreemptionWatcher
from cnnjax.checkpoint.workdir import check_workdir_path, claim_workdir

__all__ = [
    "Checkpointer",
    "PreemptionWatcher",
    "WorkdirLock",
    "check_workdir_path",
    "claim_workdir",
    "is_committed",
    "quarantine_uncommitted_steps",
]

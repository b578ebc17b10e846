"""Orbax checkpoints, preemption handling and the one-run-per-workdir rule."""

from cnnjax.checkpoint.manager import Checkpointer, is_committed, quarantine_uncommitted_steps
from cnnjax.checkpoint.preemption import PreemptionWatcher
from cnnjax.checkpoint.workdir import WorkdirConflictError, claim_workdir

__all__ = [
    "Checkpointer",
    "PreemptionWatcher",
    "WorkdirConflictError",
    "claim_workdir",
    "is_committed",
    "quarantine_uncommitted_steps",
]

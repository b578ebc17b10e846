"""Errors about a run that its user resolves; `cnnjax` prints each as one line, without a traceback.

Kept free of heavy imports so the command line can catch them before jax is loaded.
"""

# Exit codes of `cnnjax train`: a user error (nothing written, or the run stopped with its checkpoints
# intact); a diverged run (its good checkpoints kept); a Ctrl-C (saved at the next step, unless pressed twice).
EXIT_USER_ERROR, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130


class WorkdirError(RuntimeError):
    """The workdir is not a directory this run can write."""


class WorkdirConflictError(RuntimeError):
    """A config was launched into a workdir that holds another run."""


class WorkdirLockedError(RuntimeError):
    """Another live process holds the workdir's lock."""


class RunWriteError(RuntimeError):
    """The run could not write its workdir (full disk, read-only filesystem, ...)."""


class CheckpointSaveError(RuntimeError):
    """An asynchronous save failed; the message names the intact checkpoints."""


class CheckpointRestoreError(RuntimeError):
    """A checkpoint with intact files does not fit the run's train state."""


class DivergedError(RuntimeError):
    """Training diverged under `train.nonfinite='stop'`, or a relaunch into a diverged run was refused."""

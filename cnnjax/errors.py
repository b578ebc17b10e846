"""Errors a user resolves, all :class:`CnnjaxError`: `cnnjax` prints each as one line, without a traceback,
and exits with :data:`EXIT_USER_ERROR` (:data:`EXIT_DIVERGED` for :class:`DivergedError`).  Any other
exception is a bug in cnnjax (or in what it calls) and keeps its traceback; ``CNNJAX_TRACEBACK=1`` shows the
traceback of a :class:`CnnjaxError` too.

Kept free of imports so the command line can catch them before jax is loaded.
"""

# Exit codes of `cnnjax train`: a user error (nothing written, or the run stopped with its checkpoints
# intact); a diverged run (its good checkpoints kept); a Ctrl-C (saved at the next step, unless pressed twice).
EXIT_USER_ERROR, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130


class CnnjaxError(Exception):
    """An error its user resolves (a config value, a command-line argument, a dataset to prepare, a
    workdir in use...); the message says what to change."""


class InvalidInputError(CnnjaxError, ValueError):
    """A value the user gave (a config value, a command-line argument, a model input) that cannot be used;
    a ``ValueError`` too, as Python callers expect."""


class WorkdirError(CnnjaxError, RuntimeError):
    """The workdir is not a directory this run can write."""


class WorkdirConflictError(CnnjaxError, RuntimeError):
    """A config was launched into a workdir that holds another run."""


class WorkdirLockedError(CnnjaxError, RuntimeError):
    """Another live process holds the workdir's lock."""


class RunWriteError(CnnjaxError, RuntimeError):
    """The run could not write its workdir (full disk, read-only filesystem, ...)."""


class CheckpointSaveError(CnnjaxError, RuntimeError):
    """An asynchronous save failed; the message names the intact checkpoints."""


class CheckpointRestoreError(CnnjaxError, RuntimeError):
    """A checkpoint with intact files does not fit the run's train state."""


class DivergedError(CnnjaxError, RuntimeError):
    """Training diverged under `train.nonfinite='stop'`, or a relaunch into a diverged run was refused."""

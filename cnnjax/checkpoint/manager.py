"""Orbax checkpoints of a run: train state, train-metrics window, config and run progress, saved together per step.

The state and window are saved as global arrays in canonical form (every leaf replicated,
`cnnjax.parallel.DataParallel.canonicalizer`) from every process, and restored onto the devices of the run
that reads them, whatever their number. The data position is the step itself (`cnnjax.data.pipeline`).

Invariants:
- A step counts as good only when Orbax committed it and its files match the checksum manifest written
  when the save finalized (`cnnjax.checkpoint.manifest`). Only finite states are saved.
- Keep-k is cnnjax's, not Orbax's: older good steps are deleted only once the newest step is good, so a
  save that fails, or one that is damaged later, never costs the steps before it.
- Nothing is deleted that is not good and superseded: an uncommitted, unverified or damaged step is moved
  aside as `<step>.uncommitted-<time>`, `<step>.unverified-<time>` or `<step>.damaged-<time>` with one
  warning line, and the run resumes from the newest good step.
"""

import json
import logging
import os
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from cnnjax.checkpoint import finite
from cnnjax.checkpoint.manifest import COMMIT_RECORD, find_damage, has_manifest, write_manifest
from cnnjax.errors import CheckpointRestoreError, CheckpointSaveError

_TMP_SUFFIX = ocp.path.atomicity_types.TMP_DIR_SUFFIX


_all_finite = jax.jit(finite.all_finite)


CHECKPOINTS = "checkpoints"  # a run directory's checkpoint directory

def all_finite(tree) -> bool:
    """True when every floating-point leaf of `tree` (host arrays, or replicated global arrays) is finite."""
    return bool(np.asarray(_all_finite(tree).addressable_data(0)))


class Checkpointer:
    """Saves and restores `{state, window, config, progress}` under `workdir/checkpoints/<step>`."""

    def __init__(self, workdir: str, keep: int):
        self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINTS))
        self._keep = keep
        self._saving: int | None = None  # the step whose save may still be in flight
        if jax.process_index() == 0:
            quarantine_uncommitted_steps(self.directory)
            set_aside_until_good(self.directory)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("cnnjax: checkpoints checked")
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None,
            enable_async_checkpointing=True,
            create=True,
            async_options=ocp.AsyncOptions(post_finalization_callback=self._write_manifest),
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def _write_manifest(self) -> None:
        """Orbax calls this on the primary process after every process wrote its part, before the commit."""
        tmp = os.path.join(self.directory, f"{self._saving}{_TMP_SUFFIX}")
        write_manifest(tmp if os.path.isdir(tmp) else os.path.join(self.directory, str(self._saving)))

    def restore(
        self, state_template, window_template, step: int | None = None
    ) -> tuple[int, object, dict, dict] | None:
        """Restores `step` (default: the newest good step) into the structure, shapes and shardings of the
        templates (arrays or `jax.ShapeDtypeStruct`s); returns `(step, state, window, progress)`, or None when
        there is no good step."""
        step = self._manager.latest_step() if step is None else step
        if step is None:
            return None
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct, state_template)),
            window=ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct, window_template)),
            progress=ocp.args.JsonRestore(),
        )
        try:
            restored = self._manager.restore(step, args=args)
        except Exception as e:  # its files match their checksums: not damage, but another run's layout
            raise CheckpointRestoreError(
                f"checkpoint {step} in {self.directory} passes its checksums but does not restore into this run's "
                f"train state ({_first_line(e)}); was it written by another version of cnnjax?"
            ) from e
        return step, restored.state, restored.window, dict(restored.progress)

    def set_aside_after(self, step: int | None, reason: str) -> None:
        """Moves every step after `step` (every step: None) aside as `<step>.ahead-<time>`, one warning line each
        (a seed group resumes all members from the newest step that each of them holds)."""
        if jax.process_index() == 0:
            for ahead in [s for s in self._manager.all_steps() if step is None or s > step]:
                set_aside(os.path.join(self.directory, str(ahead)), "ahead", reason)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("cnnjax: checkpoints set aside")
        self._manager.reload()

    def save(self, step: int, state, window: dict, config_dict: dict, progress: dict) -> None:
        """Starts an asynchronous save of the finite canonical `state`, the metrics `window`, the config and
        `progress` (JSON); first reports a failed earlier save and prunes what the newest good step supersedes."""
        if not all_finite(state):
            raise ValueError(f"refusing to save a non-finite train state at step {step}")
        self.wait()
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            window=ocp.args.StandardSave(window),
            config=ocp.args.JsonSave(config_dict),
            progress=ocp.args.JsonSave(progress),
        )
        self._saving = step
        self._manager.save(step, args=args, force=True)

    def check(self) -> None:
        """Raises CheckpointSaveError, at once, when the last asynchronous save failed."""
        try:
            self._manager.check_for_errors()
        except Exception as e:  # Orbax re-raises whatever the background save raised
            raise self._save_error(e) from e

    def wait(self) -> None:
        """Waits for the save in flight, reports its failure, and prunes to the newest `keep` good steps."""
        try:
            self._manager.wait_until_finished()
            self._manager.check_for_errors()
        except Exception as e:
            raise self._save_error(e) from e
        self._prune()

    def _save_error(self, error: Exception) -> CheckpointSaveError:
        intact = ", ".join(map(str, self.good_steps())) or "none"
        return CheckpointSaveError(
            f"saving checkpoint {self._saving} failed: {_first_line(error)}; "
            f"intact checkpoints in {self.directory}: {intact}"
        )

    def good_steps(self) -> list[int]:
        """Committed steps whose files are all present at their written sizes, oldest first."""
        return [s for s in sorted(self._manager.all_steps()) if _is_good(self.directory, s, checksums=False)]

    def _prune(self) -> None:
        steps = sorted(self._manager.all_steps())
        good = self.good_steps()
        if not steps or not good or good[-1] != steps[-1]:
            return  # the newest step is not (yet) good: keep everything
        for step in good[: -self._keep]:
            self._manager.delete(step)

    def close(self) -> None:
        """Waits for the save in flight (its failure is raised) and closes the manager."""
        failed = True
        try:
            self.wait()
            failed = False
        finally:
            try:
                self._manager.close()
            except Exception:
                if not failed:  # else it is the failed save again, reported by wait()
                    raise


def good_steps(directory: str) -> list[int]:
    """The committed steps under ``directory`` whose files all match their manifest's checksums, oldest first;
    reads only."""
    return [
        int(os.path.basename(path))
        for path in _step_dirs(directory)
        if _is_good(directory, int(os.path.basename(path)), checksums=True)
    ]


class _DropOrbaxErrors(logging.Filter):
    """Orbax logs a failed background save with its traceback; cnnjax reports it in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname)


_ORBAX_ERROR_FILTER = _DropOrbaxErrors()
logging.getLogger("absl").addFilter(_ORBAX_ERROR_FILTER)


def _is_good(directory: str, step: int, checksums: bool) -> bool:
    path = os.path.join(directory, str(step))
    return is_committed(path) and find_damage(path, checksums=checksums) is None


_OS_FAILURES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied")


def _first_line(error: BaseException) -> str:
    """The failure in a few words: the OS error behind it where there is one, else the first line (≤ 200 chars)."""
    text = str(error)
    if cause := next((f for f in _OS_FAILURES if f in text), None):
        return cause
    lines = text.strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")


def is_committed(step_dir: str) -> bool:
    """True when Orbax finished the step: its metadata file records a commit time."""
    try:
        with open(os.path.join(step_dir, COMMIT_RECORD)) as f:
            return json.load(f).get("commit_timestamp_nsecs") is not None
    except (OSError, ValueError, AttributeError):
        return False


def _step_dirs(directory: str) -> list[str]:
    if not os.path.isdir(directory):
        return []
    names = sorted((n for n in os.listdir(directory) if n.isdigit()), key=int)
    return [os.path.join(directory, n) for n in names if os.path.isdir(os.path.join(directory, n))]


def set_aside(step_dir: str, kind: str, reason: str) -> str:
    """Renames `step_dir` to `<step>.<kind>-<time>` with one warning line; returns the new path."""
    target = f"{step_dir}.{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    while os.path.exists(target):
        target += "x"
    os.rename(step_dir, target)
    print(f"cnnjax: warning: checkpoint {os.path.basename(step_dir)}: {reason}; moved it to {target}", file=sys.stderr)
    return target


def quarantine_uncommitted_steps(directory: str) -> list[str]:
    """Moves step directories without a commit record aside as `<step>.uncommitted-<time>`; returns the new paths."""
    return [
        set_aside(path, "uncommitted", "it was never committed")
        for path in _step_dirs(directory)
        if not is_committed(path)
    ]


def set_aside_until_good(directory: str) -> list[str]:
    """From the newest committed step down, moves aside each step that fails its manifest (unverified,
    missing or truncated files, checksums) until one passes; returns the new paths."""
    moved = []
    for path in reversed(_step_dirs(directory)):
        damage = find_damage(path)
        if damage is None:
            break
        moved.append(set_aside(path, "damaged" if has_manifest(path) else "unverified", damage))
    return moved

"""Orbax checkpoints of a run: train state, Grain iterator state and config, saved together per step.

Saves are asynchronous and keep the last k. A step directory without Orbax's commit record (a
half-written or hand-made one) is never taken for the latest checkpoint: it is moved aside, not
deleted, so nothing saved is lost.
"""

import json
import logging
import os
import time

import grain
import jax
import orbax.checkpoint as ocp

_COMMIT_RECORD = "_CHECKPOINT_METADATA"


class Checkpointer:
    """Saves and restores `{state, data, config}` under `workdir/checkpoints/<step>`."""

    def __init__(self, workdir: str, keep: int):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        if jax.process_index() == 0:
            quarantine_uncommitted_steps(self.directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state, data_iterator, config_dict: dict) -> None:
        """Starts an asynchronous save of host `state`, the iterator position and the config."""
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(data_iterator),
            config=ocp.args.JsonSave(config_dict),
        )
        self._manager.save(step, args=args, force=True)

    def restore(self, step: int, state_template, data_iterator):
        """Restores step `step` into the structure of `state_template`; sets the iterator's position."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_template)
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), data=grain.checkpoint.CheckpointRestore(data_iterator)
        )
        return self._manager.restore(step, args=args).state

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()


def is_committed(step_dir: str) -> bool:
    """True when Orbax finished the step: its metadata file records a commit time."""
    try:
        with open(os.path.join(step_dir, _COMMIT_RECORD)) as f:
            return json.load(f).get("commit_timestamp_nsecs") is not None
    except (OSError, ValueError):
        return False


def quarantine_uncommitted_steps(directory: str) -> list[str]:
    """Renames step directories without a commit record to `<step>.uncommitted-<time>`; returns the new paths."""
    if not os.path.isdir(directory):
        return []
    moved = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.isdigit() and os.path.isdir(path) and not is_committed(path):
            target = f"{path}.uncommitted-{int(time.time())}"
            os.rename(path, target)
            logging.warning("checkpoint step %s was never committed; moved it to %s", name, target)
            moved.append(target)
    return moved

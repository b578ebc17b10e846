"""Checkpoint integrity, in-process against `Checkpointer`: random damage to the newest step is detected and
set aside, the restore comes from a good step and never loads damaged data; keep-k prunes only behind a
good newest step; the workdir lock keeps a second holder out."""

import os
import random
import shutil

import numpy as np
import pytest

from cnnjax.checkpoint import Checkpointer, WorkdirLock
from cnnjax.checkpoint.manifest import MANIFEST_FILE, WRITTEN_AT_COMMIT, find_damage
from cnnjax.errors import WorkdirLockedError

PATTERNS = 20


def _window(step: int) -> dict:
    return {"sums": {"loss": np.full((), step, np.float32)}, "finite_steps": np.full((), step, np.int32)}


def _state(step: int) -> dict:
    rng = np.random.default_rng(step)
    return {"w": rng.normal(size=(64, 64)).astype(np.float32), "b": rng.normal(size=(64,)).astype(np.float32)}


def _save_steps(workdir, steps, keep=3):
    checkpointer = Checkpointer(str(workdir), keep)
    for step in steps:
        checkpointer.save(step, _state(step), _window(step), {"name": "t"}, {"train_seconds": float(step)})
    checkpointer.close()


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two_steps")
    _save_steps(workdir, (1, 2))
    return workdir


def _damage(path: str, rng: random.Random) -> str:
    kind = rng.choice(["truncate", "delete", "flip", "empty"])
    size = os.path.getsize(path)
    if kind == "delete":
        os.remove(path)
    elif kind == "empty":
        open(path, "w").close()
    elif kind == "truncate":
        with open(path, "r+b") as f:
            f.truncate(rng.randrange(size) if size else 0)
    else:
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            if not data:
                data = bytearray(b"\0")
            for _ in range(min(400, len(data))):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            f.seek(0)
            f.write(bytes(data))
    return kind


def test_random_damage_to_the_newest_step_never_loads_damaged_data(two_steps, tmp_path):
    rng = random.Random(0)
    restored_from = []
    for pattern in range(PATTERNS):
        workdir = tmp_path / f"pattern{pattern}"
        shutil.copytree(two_steps, workdir)
        step_dir = workdir / "checkpoints" / "2"
        files = sorted(str(p) for p in step_dir.rglob("*") if p.is_file())
        target = rng.choice(files)
        kind = _damage(target, rng)
        checkpointer = Checkpointer(str(workdir), 3)
        step, state, window, progress = checkpointer.restore(_state(0), _window(0))
        checkpointer.close()
        # Orbax's commit markers are written after the manifest; one that still reads as committed is harmless
        harmless = os.path.relpath(target, step_dir) in WRITTEN_AT_COMMIT and step == 2
        assert step == 1 or harmless, f"{kind} of {target} went unnoticed"
        for name, value in _state(step).items():
            np.testing.assert_array_equal(state[name], value)
        assert progress == {"train_seconds": float(step)} and window == _window(step)
        if step == 1:
            aside = [n for n in os.listdir(workdir / "checkpoints") if n.startswith("2.")]
            assert len(aside) == 1 and not step_dir.exists(), "the damaged step is moved aside, not deleted"
        restored_from.append(step)
    assert restored_from.count(1) >= PATTERNS - 2


def test_keep_k_prunes_only_behind_a_good_newest_step(tmp_path):
    _save_steps(tmp_path, (1, 2, 3, 4), keep=2)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["3", "4"]
    os.remove(tmp_path / "checkpoints" / "4" / MANIFEST_FILE)  # the newest step is no longer good
    checkpointer = Checkpointer(str(tmp_path), 2)  # moves 4 aside as unverified
    assert checkpointer.good_steps() == [3]
    checkpointer.close()
    assert any(n.startswith("4.unverified-") for n in os.listdir(tmp_path / "checkpoints"))
    assert find_damage(str(tmp_path / "checkpoints" / "3")) is None


def test_non_finite_states_are_never_saved(tmp_path):
    checkpointer = Checkpointer(str(tmp_path), 3)
    state = _state(1)
    state["w"][3, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        checkpointer.save(1, state, _window(1), {}, {"train_seconds": 0.0})
    checkpointer.close()
    assert checkpointer.good_steps() == []


def test_a_second_lock_on_a_workdir_is_refused_with_the_holder(tmp_path):
    first = WorkdirLock(str(tmp_path))
    with pytest.raises(WorkdirLockedError, match=f"PID {os.getpid()}"):
        WorkdirLock(str(tmp_path))
    first.release()
    WorkdirLock(str(tmp_path)).release()  # released: free again

"""Optimizer, schedules, weight-decay mask, loss and the one-run-per-workdir rule."""

import json
import os

import jax
import numpy as np
import optax
import pytest

from cnnjax.checkpoint import claim_workdir, is_committed, quarantine_uncommitted_steps
from cnnjax.config import base_config
from cnnjax.errors import WorkdirConflictError
from cnnjax.tasks.losses import cross_entropy
from cnnjax.train.optimizer import make_optimizer, make_schedule, weight_decay_mask


def test_piecewise_schedule_with_warmup_uses_absolute_boundaries():
    c = base_config()
    c.optimizer.learning_rate = 0.1
    c.schedule.name, c.schedule.boundaries, c.schedule.warmup_steps = "piecewise", (100, 200), 10
    s = make_schedule(c)
    assert float(s(0)) == 0.0 and float(s(5)) == pytest.approx(0.05)
    assert [float(s(t)) for t in (99, 100, 199, 200)] == pytest.approx([0.1, 0.01, 0.01, 0.001])


def test_cosine_schedule_ends_at_the_final_fraction():
    c = base_config()
    c.train.num_steps, c.schedule.name, c.schedule.final_fraction = 1000, "cosine", 0.1
    s = make_schedule(c)
    assert (
        float(s(0)) == pytest.approx(0.1)
        and float(s(500)) == pytest.approx(0.055)
        and float(s(1000)) == pytest.approx(0.01)
    )


def test_weight_decay_skips_biases_and_norms():
    params = {
        "conv": {"kernel": np.ones((3, 3, 1, 2), np.float32)},
        "norm": {"scale": np.ones(2, np.float32)},
        "bias": np.ones(2, np.float32),
    }
    assert weight_decay_mask(params) == {"conv": {"kernel": True}, "norm": {"scale": False}, "bias": False}
    c = base_config()
    c.optimizer.weight_decay, c.optimizer.momentum = 0.5, 0.0
    tx, _ = make_optimizer(c)
    zero = {
        k: np.zeros_like(v) if not isinstance(v, dict) else {n: np.zeros_like(a) for n, a in v.items()}
        for k, v in params.items()
    }
    updates, _ = tx.update(zero, tx.init(params), params)
    assert float(updates["conv"]["kernel"].max()) == pytest.approx(-0.1 * 0.5)  # -lr · wd · w
    assert float(np.abs(updates["norm"]["scale"]).max()) == 0.0 and float(np.abs(updates["bias"]).max()) == 0.0


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_clip_norm_scales_a_gradient_above_it_down_to_it_and_leaves_one_below_alone(optimizer):
    c = base_config()
    c.optimizer.update(name=optimizer, learning_rate=1.0, momentum=0.0, weight_decay=0.0, clip_norm=2.0)
    tx, _ = make_optimizer(c)
    params = {"w": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)}
    big = {"w": np.array([6.0, 0.0], np.float32), "b": np.array([0.0, 8.0, 0.0], np.float32)}  # norm 10
    small = jax.tree.map(lambda g: g / 10, big)  # norm 1
    clipped, _ = tx.update(big, tx.init(params), params)
    unclipped, _ = tx.update(small, tx.init(params), params)
    if optimizer == "sgd":  # the update is -lr x the (clipped) gradient
        np.testing.assert_allclose(clipped["w"], [-1.2, 0.0], rtol=1e-6)
        np.testing.assert_allclose(unclipped["b"], [0.0, -0.8, 0.0], rtol=1e-6)
    else:  # Adam's first step is -lr x sign: clipping keeps it, the clipped moments are 1/5 of the raw ones
        state = tx.update(big, tx.init(params), params)[1]
        mu = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState))
        adam = next(s for s in mu if isinstance(s, optax.ScaleByAdamState))
        np.testing.assert_allclose(adam.mu["w"], [0.1 * 1.2, 0.0], rtol=1e-6)


def test_label_smoothing_cross_entropy_in_float32():
    logits = np.array([[2.0, 0.0, -1.0]], np.float32).astype("bfloat16")
    loss = cross_entropy(logits, np.array([0]), label_smoothing=0.3)
    log_p = np.log(np.exp(logits.astype(np.float32)) / np.exp(logits.astype(np.float32)).sum())
    expected = -(0.8 * log_p[0, 0] + 0.1 * log_p[0, 1] + 0.1 * log_p[0, 2])
    assert loss.dtype == np.float32 and float(loss[0]) == pytest.approx(expected, rel=1e-5)


def test_another_runs_workdir_is_refused_and_left_untouched(tmp_path):
    first = base_config().to_dict()
    assert claim_workdir(str(tmp_path), first, True) is False
    assert claim_workdir(str(tmp_path), first, True) is True  # the same run: a resume
    second = base_config()
    second.optimizer.learning_rate = 0.2
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(WorkdirConflictError, match=r"optimizer.learning_rate: stored 0.1, now 0.2"):
        claim_workdir(str(tmp_path), second.to_dict(), True)
    assert (tmp_path / "config.json").read_text() == before
    relaunch = base_config()
    relaunch.parallel.process_id, relaunch.parallel.num_processes = 1, 2  # how it is launched is not a new run
    relaunch.parallel.num_devices = 4
    relaunch.dataset.num_workers, relaunch.dataset.num_threads = 3, 2  # batches do not depend on them
    assert claim_workdir(str(tmp_path), relaunch.to_dict(), True) is True


def test_a_run_written_before_a_key_existed_resumes_as_if_it_had_its_default(tmp_path):
    older = base_config().to_dict()
    del older["train"]["frozen"], older["model"]["init_from"], older["data_seed"]
    (tmp_path / "config.json").write_text(json.dumps(older))
    assert claim_workdir(str(tmp_path), base_config().to_dict(), True) is True
    frozen = base_config()
    frozen.train.frozen = ("stem/*",)
    with pytest.raises(WorkdirConflictError, match=r"train.frozen: stored \[\], now \['stem/\*'\]"):
        claim_workdir(str(tmp_path), frozen.to_dict(), True)


def test_uncommitted_step_directories_are_moved_aside_not_deleted(tmp_path):
    committed = tmp_path / "5"
    committed.mkdir()
    (committed / "_CHECKPOINT_METADATA").write_text(json.dumps({"commit_timestamp_nsecs": 1}))
    bare = tmp_path / "9"
    (bare / "state").mkdir(parents=True)
    (bare / "state" / "data").write_text("partial")
    half = tmp_path / "7"
    half.mkdir()
    (half / "_CHECKPOINT_METADATA").write_text(json.dumps({"init_timestamp_nsecs": 1}))
    moved = quarantine_uncommitted_steps(str(tmp_path))
    assert sorted(os.path.basename(m).split(".")[0] for m in moved) == ["7", "9"]
    assert is_committed(str(committed)) and not bare.exists() and not half.exists()
    kept = [m for m in moved if os.path.basename(m).startswith("9.")][0]
    assert open(os.path.join(kept, "state", "data")).read() == "partial"

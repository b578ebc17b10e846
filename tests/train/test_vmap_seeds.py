"""`train.vmap_seeds`: K seeds trained as one vmapped program write K run directories that equal their standalone
runs — per-step losses within 1e-5 relative, parameters within 1e-4 (bitwise is not expected) — for a BatchNorm
model on distinct data streams and a dropout model on one shared stream; a member made to diverge stops there
while the others go on."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_runs import experiment, train
from subprocesses import cnnjax_train_command, read_checkpoint_state, run_worker

import cnnjax.train.loop
import cnnjax.train.mapped_steps
from cnnjax.checkpoint.manifest import COMMIT_RECORD
from cnnjax.errors import EXIT_DIVERGED
from cnnjax.reporting import read_metrics

STEPS = 100
SHRUNK = (
    "model.overrides.widths=(8, 16)",
    "model.overrides.convs_per_stage=1",
    "train.batch_size=32",
    "train.eval_batch_size=64",
    "train.log_every_steps=1",
    "train.eval_every_steps=0",
    f"train.num_steps={STEPS}",
    f"train.checkpoint_every_steps={STEPS}",
)
BATCH_NORM = ()  # simple_cnn: BatchNorm after every conv; data_seed follows seed: one stream per member
DROPOUT = ("model.overrides.batch_norm=False", "model.overrides.dropout_rate=0.5", "data_seed=7")  # one stream
SEEDS = (0, 1, 2)
POISONED_SEED, POISONED_STEP = 1, 20


def _runs(root: Path, name: str, model: tuple) -> dict[int, tuple[Path, Path]]:
    """(the group's member directory, the standalone run of the same seed), by seed."""
    config = experiment("digits_simple_cnn.py")
    group = root / f"{name}_group"
    assert train(group, config, *SHRUNK, *model, f"train.vmap_seeds={len(SEEDS)}") == 0
    for seed in SEEDS:
        assert train(root / f"{name}_seed{seed}", config, *SHRUNK, *model, f"seed={seed}") == 0
    return {seed: (group / f"seed{seed}", root / f"{name}_seed{seed}") for seed in SEEDS}


@pytest.fixture(scope="module")
def batch_norm_runs(tmp_path_factory):
    return _runs(tmp_path_factory.mktemp("vmap"), "batch_norm", BATCH_NORM)


@pytest.fixture(scope="module")
def dropout_runs(tmp_path_factory):
    return _runs(tmp_path_factory.mktemp("vmap"), "dropout", DROPOUT)


def logged(workdir) -> list[dict]:
    """Every logged row but its timings (compile rows are per launch)."""
    timings = ("time", "images_per_sec")
    return [{k: v for k, v in r.items() if k not in timings} for r in read_metrics(workdir) if r["split"] != "compile"]


def losses(workdir) -> np.ndarray:
    return np.array([row["loss"] for row in read_metrics(workdir, "train")])


def relative_errors(member, standalone) -> tuple[float, float]:
    """(max per-step relative loss error, max relative parameter error: per array, ‖a - b‖ / ‖b‖)."""
    a, b = losses(member), losses(standalone)
    assert len(a) == len(b) == STEPS
    loss_error = float(np.max(np.abs(a - b) / np.abs(b)))
    pa, pb = (read_checkpoint_state(w, STEPS)["params"] for w in (member, standalone))
    param_error = max(
        float(np.linalg.norm(x - y) / np.linalg.norm(y)) for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb))
    )
    return loss_error, param_error


@pytest.mark.parametrize("runs", ["batch_norm_runs", "dropout_runs"])
def test_each_member_equals_its_standalone_run(runs, request):
    for seed, (member, standalone) in request.getfixturevalue(runs).items():
        loss_error, param_error = relative_errors(member, standalone)
        print(f"{runs} seed {seed}: loss {loss_error:.2e}, params {param_error:.2e}")
        assert loss_error <= 1e-5 and param_error <= 1e-4, (seed, loss_error, param_error)
        stored = [json.loads((w / "config.json").read_text()) for w in (member, standalone)]
        assert stored[0] == stored[1]  # a standalone relaunch resumes it; a sweep reads it back
        summaries = [json.loads((w / "summary.json").read_text()) for w in (member, standalone)]
        assert summaries[0]["status"] == "completed" and summaries[0]["steps"] == STEPS
        assert summaries[0]["test_accuracy"] == pytest.approx(summaries[1]["test_accuracy"], abs=1 / 270)


def test_a_member_relaunched_alone_resumes_as_its_standalone_run(batch_norm_runs):
    member, _ = batch_norm_runs[2]
    before = losses(member)
    assert train(member, experiment("digits_simple_cnn.py"), *SHRUNK, "seed=2") == 0  # finished: nothing retrained
    assert np.array_equal(losses(member), before)


def test_an_interrupted_group_resumes_from_the_step_every_member_holds(tmp_path, batch_norm_runs, monkeypatch, capsys):
    """Saved at step 30, stopped at step 45 (every member saves it), then seed 0's step 45 made uncommitted (a kill
    between the members' commits): the relaunch sets the others' step 45 aside, resumes all from step 30, and ends
    as the uninterrupted group did."""
    should_stop = cnnjax.train.loop.PreemptionWatcher.should_stop

    def stop_at_step_45(self):
        if should_stop(self) or self._calls == 45:
            self.reason = self.reason or "SIGTERM"
        return self.reason is not None

    config, group = experiment("digits_simple_cnn.py"), tmp_path / "group"
    overrides = (*SHRUNK, "train.checkpoint_every_steps=30", f"train.vmap_seeds={len(SEEDS)}")
    with monkeypatch.context() as patch:
        patch.setattr(cnnjax.train.loop.PreemptionWatcher, "should_stop", stop_at_step_45)
        assert train(group, config, *overrides) == 0
    assert "stopped by SIGTERM at step 45" in capsys.readouterr().out
    (group / "seed0" / "checkpoints" / "45" / COMMIT_RECORD).unlink()
    assert train(group, config, *overrides) == 0
    assert "the seed group resumes from step 30" in capsys.readouterr().err
    assert len(list((group / "seed1" / "checkpoints").glob("45.ahead-*"))) == 1
    for seed in SEEDS:
        reference = batch_norm_runs[seed][0]
        assert logged(group / f"seed{seed}") == logged(reference)
        for a, b in zip(
            *(jax.tree.leaves(read_checkpoint_state(w, STEPS)) for w in (group / f"seed{seed}", reference))
        ):
            np.testing.assert_array_equal(a, b)


def test_a_diverging_member_stops_there_and_the_others_go_on(tmp_path, batch_norm_runs, monkeypatch):
    """Seed 1's images turn NaN at its step 20: it is recorded as diverged there and saves nothing after; seeds 0 and
    2 equal their standalone runs. A relaunch leaves the diverged member as it was."""
    make_train_step = cnnjax.train.mapped_steps.make_train_step
    poisoned_rng = jax.random.fold_in(jax.random.PRNGKey(POISONED_SEED), 1)  # its state's key (cnnjax.train.state)

    def poisoning(model, tx, schedule, task, on_device, **options):
        inner = make_train_step(model, tx, schedule, task, **options)

        def train_step(state, batch):  # NaN images for one seed's step POISONED_STEP
            batch = on_device(batch)
            poison = (state.step == POISONED_STEP - 1) & jnp.all(state.rng == poisoned_rng)
            return inner(state, {**batch, "image": jnp.where(poison, jnp.nan, batch["image"])})

        return train_step

    monkeypatch.setattr(cnnjax.train.mapped_steps, "make_train_step", poisoning)
    group = tmp_path / "group"
    code = train(group, experiment("digits_simple_cnn.py"), *SHRUNK, f"train.vmap_seeds={len(SEEDS)}")
    assert code == EXIT_DIVERGED
    diverged = json.loads((group / f"seed{POISONED_SEED}" / "summary.json").read_text())
    assert diverged["status"] == "diverged" and diverged["step"] == POISONED_STEP and "loss" in diverged["metric"]
    assert not (group / f"seed{POISONED_SEED}" / "checkpoints" / str(STEPS)).exists()
    for seed in set(SEEDS) - {POISONED_SEED}:
        loss_error, param_error = relative_errors(group / f"seed{seed}", batch_norm_runs[seed][1])
        assert loss_error <= 1e-5 and param_error <= 1e-4, (seed, loss_error, param_error)
    rows = logged(group / f"seed{POISONED_SEED}")
    assert train(group, experiment("digits_simple_cnn.py"), *SHRUNK, f"train.vmap_seeds={len(SEEDS)}") == code
    assert logged(group / f"seed{POISONED_SEED}") == rows  # relaunched: the diverged member is left as it was
    assert json.loads((group / f"seed{POISONED_SEED}" / "summary.json").read_text()) == diverged


def test_two_devices_with_per_device_batch_statistics(tmp_path):
    """The member axis inside the device axis: BatchNorm statistics kept per device (averaged before evaluations
    and saves) and a periodic evaluation, on 2 devices."""
    overrides = (*SHRUNK, "train.num_steps=20", "train.eval_every_steps=10", "parallel.sync_batch_stats=False")
    runs = []  # both runs in one 2-device process (one start-up): the group, then seed 1 alone
    for workdir, extra in ((tmp_path / "group", "train.vmap_seeds=2"), (tmp_path / "seed1", "seed=1")):
        arguments = [f"--config.{o}" for o in (*overrides, extra)]
        command = cnnjax_train_command("experiments/digits_simple_cnn.py", workdir, *arguments)
        runs.append(command[command.index("train") + 1 :])  # `cnnjax train`'s arguments
    run_worker("train_runs", 2, *runs[0], "--next", *runs[1])
    member, standalone = read_metrics(tmp_path / "group" / "seed1"), read_metrics(tmp_path / "seed1")
    assert [(r["step"], r["split"]) for r in member] == [(r["step"], r["split"]) for r in standalone]
    for a, b in zip(member, standalone):
        if a["split"] != "compile":  # train, validation and test rows
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-5), (a, b)


def test_a_negative_vmap_seeds_is_refused_in_one_line(tmp_path, capsys):
    assert train(tmp_path / "run", experiment("digits_simple_cnn.py"), "train.vmap_seeds=-1") == 2
    assert "config.train.vmap_seeds must be >= 0" in capsys.readouterr().err

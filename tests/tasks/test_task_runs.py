"""The keypoints and multi-label tasks with the rest of a run: a run stopped by SIGTERM resumes to the same logged
values and the same state, bitwise; a sweep trains a point's seeds as one vmapped seed group whose members are the
runs their seeds train alone, and reports the task's headline metric."""

import csv
import json

import jax
import numpy as np
import pytest
from experiment_runs import experiment, summary, train
from in_process_stop import sigterm_when, train_rows_at_least
from subprocesses import read_checkpoint_state

from cnnjax.cli import main
from cnnjax.reporting import read_metrics
from cnnjax.tasks import TASKS

STEPS = 24
EVAL_SPLIT = "validation[:64]"  # rows are logged under the split's name
SHORT = (
    f"train.num_steps={STEPS}",
    "train.batch_size=8",
    "train.log_every_steps=1",
    "train.eval_every_steps=12",  # an evaluation (validation thresholds, PCK) before and after the stop
    "train.checkpoint_every_steps=12",
    "train.eval_panels=0",
    f"dataset.eval_split='{EVAL_SPLIT}'",
    "dataset.test_split='test[:64]'",
)
RUNS = {  # task: (experiment, shrunk model and data)
    "keypoints": ("shapes_keypoints.py", ("model.overrides.width=4", "model.overrides.depth=2")),
    "multilabel": ("shapes_multilabel.py:simple_cnn", ("model.overrides.widths=(8, 16, 32)",)),
}
TIMINGS = ("time", "images_per_sec", "train_seconds")


def overrides_of(task: str) -> tuple[str, ...]:
    return (*RUNS[task][1], *SHORT)


def seed1_overrides_of(task: str) -> tuple[str, ...]:
    return (*overrides_of(task), "seed=1")


def logged(workdir) -> list[dict]:
    """Every logged row but its timings (compile rows are per launch: timings only)."""
    return [
        {k: v for k, v in r.items() if k not in TIMINGS} for r in read_metrics(str(workdir)) if r["split"] != "compile"
    ]


def results(workdir) -> dict:
    """summary.json without timings."""
    return {k: v for k, v in summary(workdir).items() if k not in TIMINGS and k != "line"}


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """The task's shrunk run with seed 1, trained once in this process: ``standalone(task)`` is its workdir."""
    workdirs = {}

    def run_of(task: str):
        if task not in workdirs:
            workdirs[task] = tmp_path_factory.mktemp(f"{task}_seed1")
            assert train(workdirs[task], experiment(RUNS[task][0]), *seed1_overrides_of(task)) == 0
        return workdirs[task]

    return run_of


@pytest.mark.parametrize("task", sorted(RUNS))
def test_a_stopped_run_resumes_to_the_same_values_and_state(task, standalone, tmp_path, capsys):
    config, overrides = experiment(RUNS[task][0]), seed1_overrides_of(task)
    reference, stopped = standalone(task), tmp_path / "stopped"
    with sigterm_when(train_rows_at_least(stopped, 17)) as caught:  # after the step-12 evaluation
        assert train(stopped, config, *overrides) == 0
    assert not caught, "the run ended before the stop"
    assert "stopped by SIGTERM at step 1" in capsys.readouterr().out  # at a step in 17..19
    assert train(stopped, config, *overrides) == 0
    assert logged(stopped) == logged(reference)
    assert [r["step"] for r in read_metrics(str(stopped), EVAL_SPLIT)] == [12, 24]
    assert results(stopped) == results(reference)
    assert results(reference)[f"test_{TASKS[task].headline}"] > 0
    for a, b in zip(
        jax.tree.leaves(read_checkpoint_state(stopped, STEPS)), jax.tree.leaves(read_checkpoint_state(reference, STEPS))
    ):
        np.testing.assert_array_equal(a, b)


def sweep_file(path, config: str) -> str:
    """A one-point sweep over ``config``."""
    path.write_text(
        "from cnnjax.config import load_config\n"
        f"def get_config():\n    return load_config({config!r})\n"
        "def get_sweep():\n    return [{}]\n"
    )
    return str(path)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # the sweep's children: fork and exec at once
@pytest.mark.parametrize("task", sorted(RUNS))
def test_a_sweeps_seed_group_trains_each_seed_as_its_own_run_and_reports_the_tasks_metric(
    task, standalone, tmp_path, capsys
):
    """Member 1 of the group against seed 1 alone: the same first loss; rounding (the fused program sums in
    another order) grows to ~2e-3 relative over 24 steps at these rates, where another seed's loss differs by
    tens of percent."""
    config, overrides = experiment(RUNS[task][0]), overrides_of(task)  # the sweep sets each run's seed
    sweep_dir, options = tmp_path / "sweep", [f"--config.{o}" for o in (*overrides, "dataset.num_workers=0")]
    command = ["sweep", "run", "--config", sweep_file(tmp_path / "sweep.py", config), "--workdir", str(sweep_dir)]
    code = main([*command, "--seeds", "2", "--vmap_seeds", *options])
    out = capsys.readouterr().out
    assert code == 0 and out.count(": completed: ") == 2, out
    member, alone = sweep_dir / "base" / "seed1", standalone(task)
    losses = [[r["loss"] for r in read_metrics(str(run), "train")] for run in (member, alone)]
    np.testing.assert_allclose(losses[0][0], losses[1][0], rtol=1e-6)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-2)
    headline = f"test_{TASKS[task].headline}"
    assert summary(member)[headline] == pytest.approx(summary(alone)[headline], abs=0.02)
    with open(sweep_dir / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["seed"], float(r[headline])) for r in rows] == [
        (str(seed), summary(sweep_dir / "base" / f"seed{seed}")[headline]) for seed in (0, 1)
    ]
    assert TASKS[task].headline in (sweep_dir / "report.md").read_text()
    assert json.loads((member / "config.json").read_text())["seed"] == 1

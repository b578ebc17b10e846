"""`cnnjax sweep run --vmap_seeds`: which runs train as one seed group, and the `cnnjax train` of each; end to end,
runs that a sweep without the option reads, resumes and relaunches as its own."""

import json

import pytest

from cnnjax.sweep.definition import Run, SweepDefinitionError
from cnnjax.sweep.seed_groups import check_no_vmap_key, launches
from tests.sweep.test_sweep_runs import assert_results_match_summaries, run_sweep

WIDE = {"model.overrides.widths": (16, 32)}


def runs_of(point: str, seeds, **overrides) -> list[Run]:
    return [Run(point, seed, {"seed": seed, **overrides}) for seed in seeds]


def test_consecutive_seeds_of_a_point_are_one_group_and_the_others_run_alone():
    runs = [*runs_of("wide", [0, 1, 2], **WIDE), *runs_of("own_seed", [5]), *runs_of("picked", [0, 2, 3])]
    planned = launches("sweep.py", "/s", runs, ["train.num_steps=4"], vmap_seeds=True)
    assert [(launch.command.path, [run.path for run in launch.runs]) for launch in planned] == [
        ("wide", ["wide/seed0", "wide/seed1", "wide/seed2"]),
        ("own_seed/seed5", ["own_seed/seed5"]),
        ("picked/seed0", ["picked/seed0"]),
        ("picked", ["picked/seed2", "picked/seed3"]),
    ]
    wide = planned[0].command
    assert wide.workdir == "/s/wide" and wide.log_path == "/s/wide.log"
    assert wide.overrides == ("seed=0", "model.overrides.widths=(16, 32)", "train.vmap_seeds=3", "train.num_steps=4")
    assert planned[3].command.overrides[0] == "seed=2"


def test_without_the_option_every_run_is_its_own_train_command():
    runs = runs_of("wide", [0, 1], **WIDE)
    planned = launches("sweep.py", "/s", runs, [], vmap_seeds=False)
    assert [launch.command.workdir for launch in planned] == ["/s/wide/seed0", "/s/wide/seed1"]
    assert planned[1].command.overrides == ("seed=1", "model.overrides.widths=(16, 32)")


@pytest.mark.parametrize(
    "runs,command_line",
    [(runs_of("a", [0]), ["train.vmap_seeds=2"]), (runs_of("a", [0], **{"train.vmap_seeds": 2}), [])],
)
def test_vmap_seeds_set_by_hand_is_refused(runs, command_line):
    with pytest.raises(SweepDefinitionError, match="train.vmap_seeds is set by cnnjax sweep run --vmap_seeds"):
        check_no_vmap_key(runs, command_line)


def test_a_vmapped_sweep_writes_the_runs_a_plain_sweep_reads_resumes_and_relaunches(tmp_path):
    sweep_dir = tmp_path / "sweep"
    runs = [f"widths-{w}/seed{s}" for w in ("8x16", "16x32") for s in (0, 1)]
    done = run_sweep(sweep_dir, 2, "experiments/ablations/digits_width.py", "--vmap_seeds")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": started") == 4 and done.stdout.count(": completed: ") == 4
    assert sorted(p.name for p in sweep_dir.glob("*.log")) == ["widths-16x32.log", "widths-8x16.log"]
    assert_results_match_summaries(sweep_dir, runs)
    (sweep_dir / runs[1] / "summary.json").unlink()  # interrupted in its final evaluation, say
    again = run_sweep(sweep_dir, 2)  # without the option: a child claims the member's directory as its own run
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("(not launched)") == 3 and f"{runs[1]}: started" in again.stdout
    assert json.loads((sweep_dir / runs[1] / "summary.json").read_text())["status"] == "completed"
    assert_results_match_summaries(sweep_dir, runs)

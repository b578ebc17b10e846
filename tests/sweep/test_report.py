"""The sweep report on synthetic sweep directories (no training): its statistics against scipy and by hand,
report.md's rows against the summaries, the best point, the comparisons' tests, report.png, and a bad
comparison refused before anything runs."""

import math
import re

import numpy as np
import pytest
from scipy import stats

from cnnjax.reporting.summary import read_summary
from cnnjax.sweep.command import sweep_report, sweep_run
from cnnjax.sweep.local_executor import LocalExecutor
from cnnjax.sweep.definition import Run, SweepDefinitionError
from cnnjax.sweep.report import BEST, NONE, Point, interval, number, write_report
from cnnjax.sweep.report_plot import numeric_axes
from cnnjax.sweep.statistics import PAIRED, WELCH, compare, describe
from tests.subprocesses import REPO
from tests.sweep.report_fixture import table, write_run, write_sweep

T975 = {2: 4.302652729749464, 3: 3.182446305284263}  # Student t quantiles (0.975) by degrees of freedom


def test_describe_is_the_mean_the_sample_std_and_the_t_interval():
    values = [0.91, 0.93, 0.96]
    described = describe(values)
    mean, std = sum(values) / 3, math.sqrt(sum((v - sum(values) / 3) ** 2 for v in values) / 2)
    half = T975[2] * std / math.sqrt(3)
    assert (described.n, described.min, described.max) == (3, 0.91, 0.96)
    assert described.mean == pytest.approx(mean, rel=1e-12) and described.std == pytest.approx(std, rel=1e-12)
    assert described.interval == pytest.approx((mean - half, mean + half), rel=1e-12)
    one = describe([0.5])
    assert (one.n, one.mean, one.std, one.interval) == (1, 0.5, None, None)
    assert describe([]) is None


def test_compare_is_paired_on_the_same_runs_and_welch_otherwise():
    a = {(0, 0): 0.90, (1, 1): 0.92, (2, 2): 0.95, (3, 3): 0.91}
    b = {(0, 0): 0.88, (1, 1): 0.91, (2, 2): 0.92, (3, 3): 0.90}
    paired = compare(a, b)
    differences = [a[k] - b[k] for k in a]
    mean = float(np.mean(differences))
    half = T975[3] * float(np.std(differences, ddof=1)) / 2
    assert paired.test == PAIRED
    assert paired.difference == pytest.approx(mean, rel=1e-12)
    assert paired.interval == pytest.approx((mean - half, mean + half), rel=1e-9)
    assert paired.p_value == pytest.approx(stats.ttest_rel(list(a.values()), list(b.values())).pvalue, rel=1e-12)

    c = {(0, 7): 0.88, (1, 7): 0.91, (2, 7): 0.92}  # another data_seed: not the same runs
    welch = compare(a, c)
    va, vc = np.var(list(a.values()), ddof=1) / 4, np.var(list(c.values()), ddof=1) / 3
    df = (va + vc) ** 2 / (va**2 / 3 + vc**2 / 2)  # Welch–Satterthwaite
    mean = float(np.mean(list(a.values())) - np.mean(list(c.values())))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vc)
    assert welch.test == WELCH
    assert welch.difference == pytest.approx(mean, rel=1e-12)
    assert welch.interval == pytest.approx((mean - half, mean + half), rel=1e-9)
    expected = stats.ttest_ind(list(a.values()), list(c.values()), equal_var=False).pvalue
    assert welch.p_value == pytest.approx(expected, rel=1e-12)
    assert compare(a, {(0, 0): 0.9}) is None and compare({(0, 0): 0.9}, {(0, 0): 0.8}) is None


def test_a_comparison_without_spread_has_no_p_value():
    """Quantised accuracies can differ by the same amount on every seed: the t statistic is undefined."""
    a = {(0, 0): 0.9985, (1, 1): 0.9975, (2, 2): 0.998}
    b = {key: value - 0.0015 for key, value in a.items()}
    paired = compare(a, b)
    assert paired.test == PAIRED and paired.p_value is None
    assert paired.interval == pytest.approx((0.0015, 0.0015)) and paired.difference == pytest.approx(0.0015)
    welch = compare({(0, 0): 0.5, (1, 1): 0.5}, {(0, 3): 0.25, (1, 3): 0.25})
    assert welch.test == WELCH and welch.p_value is None and welch.interval == (0.25, 0.25)


def runs_of(point: str, learning_rate: float, seeds=range(3)) -> list[Run]:
    return [Run(point, seed, {"seed": seed, "optimizer.learning_rate": learning_rate}) for seed in seeds]


def completed_values(sweep_dir, runs: list[Run], data_seed=None) -> dict:
    """The runs' test accuracies as their summaries hold them, keyed by (seed, data_seed)."""
    summaries = {run.seed: read_summary(str(sweep_dir / run.path)) for run in runs}
    return {(seed, seed if data_seed is None else data_seed): s["test_accuracy"] for seed, s in summaries.items()}


def test_report_rows_equal_the_summaries_and_mark_the_best(tmp_path):
    points = (("low", 0.01), ("mid", 0.1), ("high", 1.0), ("idle", 10.0), ("data7", 0.1))
    low, mid, high, idle, data7 = (runs_of(name, learning_rate) for name, learning_rate in points)
    comparisons = [("mid", "low"), ("mid", "data7"), ("mid", "high")]
    write_sweep(tmp_path, [*low, *mid, *high, *idle, *data7], comparisons, failures={high[2].path: "exit code 2: x"})
    for runs, values in ((low, (0.80, 0.82, 0.81)), (mid, (0.90, 0.93, 0.91)), (data7, (0.89, 0.90, 0.86))):
        for run, value in zip(runs, values, strict=True):
            write_run(tmp_path, run, "completed", value, data_seed=7 if runs is data7 else None)
    write_run(tmp_path, high[0], "completed", 0.5)
    write_run(tmp_path, high[1], "diverged")

    assert sweep_report(str(tmp_path)) == 0
    values = {
        "low": completed_values(tmp_path, low),
        "mid": completed_values(tmp_path, mid),
        "high": completed_values(tmp_path, high[:1]),
        "data7": completed_values(tmp_path, data7, data_seed=7),
    }
    rows = {row["point"]: row for row in table(tmp_path / "report.md", "point")}
    assert list(rows) == ["low", f"mid {BEST}", "high", "idle", "data7"]
    for name, point_values in values.items():
        row, described = rows[f"{name} {BEST}" if name == "mid" else name], describe(list(point_values.values()))
        spread = f" ± {number(described.std)}" if described.std is not None else ""
        assert row["test_accuracy mean ± std"] == number(described.mean) + spread
        assert row["95% CI"] == interval(described.interval)
        assert [row["n"], row["min"], row["max"]] == [str(described.n), number(described.min), number(described.max)]
    assert rows["high"]["95% CI"] == NONE and rows["high"]["test_accuracy mean ± std"] == "0.5"
    assert [rows["high"][key] for key in ("diverged", "failed", "unfinished")] == ["1", "1", "0"]
    empty = {**dict.fromkeys(rows["idle"], ""), "point": "idle", "n": "0", "diverged": "0", "failed": "0"}
    assert rows["idle"] == {**empty, "unfinished": "3"}

    compared = {(row["a"], row["b"]): row for row in table(tmp_path / "report.md", "a")}
    assert list(compared) == comparisons
    for pair, test in zip(comparisons[:2], (PAIRED, WELCH), strict=True):
        expected = compare(values[pair[0]], values[pair[1]])
        assert compared[pair]["test"] == expected.test == test
        assert compared[pair]["a − b"] == number(expected.difference)
        assert compared[pair]["95% CI"] == interval(expected.interval)
        assert compared[pair]["p"] == f"{expected.p_value:.3g}"
    assert compared[("mid", "high")]["test"] == "too few runs" and compared[("mid", "high")]["n (a, b)"] == "3, 1"
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "results.csv").is_file()


def test_lower_is_better_for_an_error_like_headline(tmp_path):
    runs = [*runs_of("a", 0.1, seeds=[0]), *runs_of("b", 1.0, seeds=[0])]
    write_sweep(tmp_path, runs)
    write_run(tmp_path, runs[0], "completed", 3.0, task="counting")
    write_run(tmp_path, runs[1], "completed", 2.0, task="counting")
    write_report(str(tmp_path))
    assert [row["point"] for row in table(tmp_path / "report.md", "point")] == ["a", f"b {BEST}"]


def test_only_int_and_float_axes_are_numeric():
    def point(name, **overrides):
        return Point(name, {key.replace("__", "."): value for key, value in overrides.items()})

    points = [
        point("a", model__name="cifar_resnet20", optimizer__learning_rate="0.1", train__num_steps="10", w="(8, 16)"),
        point("b", model__name="cifar_resnet56", optimizer__learning_rate="0.01", train__num_steps="10", w="(16, 32)"),
        point("c", model__name="cifar_resnet56", optimizer__learning_rate="1", train__num_steps="10", w="(16, 32)"),
    ]
    assert numeric_axes(points) == ["optimizer.learning_rate"]  # names, tuples and constant keys are no axes
    zipped = [point("on", pad_crop="4", lr="0.1"), point("off", pad_crop="0", lr="0.01")]
    assert numeric_axes(zipped) == []  # each moves only with the other: no line to draw
    grid = [point(f"{p}_{lr}", pad_crop=p, lr=lr) for p in ("0", "4") for lr in ("0.1", "0.01")]
    assert numeric_axes(grid) == ["pad_crop", "lr"]


def write_sweep_file(path, comparisons: str) -> str:
    """A sweep file of two points over digits_simple_cnn.py whose get_comparisons() returns `comparisons`."""
    path.write_text(
        "from cnnjax.config import load_config\n"
        f"def get_config():\n    return load_config({str(REPO / 'experiments/digits_simple_cnn.py')!r})\n"
        "def get_sweep():\n    return [{'name': 'small'}, {'name': 'large'}]\n"
        f"def get_comparisons():\n    return {comparisons}\n"
    )
    return str(path)


@pytest.mark.parametrize(
    ("comparisons", "message"),
    [
        ("[('small', 'larger')]", "get_comparisons() names 'larger', not a point; points: small, large"),
        ("[('small', 'small')]", "get_comparisons() compares 'small' with itself"),
        ("[('small',)]", "get_comparisons() must return a list of (point a, point b) pairs"),
    ],
)
def test_a_bad_comparison_fails_before_anything_runs(tmp_path, comparisons, message):
    with pytest.raises(SweepDefinitionError, match=re.escape(message)):
        sweep_file = write_sweep_file(tmp_path / "sweep.py", comparisons)
        sweep_run(sweep_file, str(tmp_path / "sweep"), 1, [], lambda: LocalExecutor(1))
    assert not (tmp_path / "sweep").exists()

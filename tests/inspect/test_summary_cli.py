"""`cnnjax summary`: a registry model, an experiment config or a run's workdir; table, JSON and CSV output;
one-line errors."""

import csv
import io
import json

from experiment_runs import experiment

from cnnjax import errors
from cnnjax.cli import main
from cnnjax.config import load_config

ROW_KEYS = {"path", "kind", "output_shape", "params", "macs", "activation_bytes", "receptive_field", "jump"}


def run(capsys, *argv) -> str:
    assert main(["summary", *argv]) == 0
    return capsys.readouterr().out


def test_json_parses_with_the_rows_and_totals_of_lenet5(capsys):
    document = json.loads(run(capsys, "lenet5", "--input", "32x32x1", "--num_classes", "10", "--format", "json"))
    assert document["input_shape"] == [1, 32, 32, 1] and document["input_dtype"] == "float32"
    rows = document["rows"]
    assert all(ROW_KEYS <= set(row) for row in rows)
    assert [row["path"] for row in rows] == ["c1", "avg_pool_0", "c3", "avg_pool_1", "flatten", "f5", "f6", "output"]
    assert rows[2]["receptive_field"] == [14, 14] and rows[2]["jump"] == [2, 2] and rows[4]["jump"] == [None, None]
    assert document["totals"]["params"] == 61_706 == sum(row["params"] for row in rows)


def test_table_and_csv_of_a_config_and_of_its_run(capsys, tmp_path):
    lenet = experiment("digits_lenet5.py")  # digits: 1 channel, 10 classes; image_size 32
    table = run(capsys, "--config", lenet, "--batch", "2")
    lines = table.splitlines()
    assert lines[0] == "input 32x32x1 float32, batch 2"
    assert lines[1].split()[:3] == ["path", "kind", "kernel"]
    assert lines[3].split()[:5] == ["c1", "conv", "5x5", "1", "0"]
    assert lines[-1].startswith("total: 61,706 params (241 KiB), 833 KMACs; activation peak: inference ")
    (tmp_path / "config.json").write_text(json.dumps(load_config(lenet).to_dict()))
    rows = list(csv.DictReader(io.StringIO(run(capsys, "--workdir", str(tmp_path), "--format", "csv"))))
    assert rows[0]["path"] == "c1" and rows[0]["kernel"] == "5x5" and rows[0]["output_shape"] == "1x28x28x6"
    assert rows[-1]["path"] == "total" and rows[-1]["params"] == "61706"
    assert int(rows[-1]["macs"]) == sum(int(row["macs"]) for row in rows[:-1]) == 416_520


def test_overrides_reach_the_model_and_the_config(capsys):
    width = json.loads(
        run(capsys, "cifar_resnet20", "--input", "8x8x3", "--config.model.overrides.width=4", "--format", "json")
    )
    assert width["rows"][0]["output_shape"] == [1, 8, 8, 4]
    config = experiment("digits_lenet5.py")
    resized = json.loads(run(capsys, "--config", config, "--config.dataset.image_size=16", "--format", "json"))
    assert resized["input_shape"] == [1, 16, 16, 1]


def test_errors_are_one_line(capsys):
    cases = [
        (["lenet"], "unknown model 'lenet'; did you mean 'lenet5'"),
        ([], "cnnjax summary takes one of MODEL, --config FILE or --workdir DIR; given none"),
        (["lenet5", "--workdir", "/tmp"], "given MODEL and --workdir"),
        (["lenet5", "--config.train.batch_size=3"], "--config.train.batch_size=3 needs --config FILE"),
        (["lenet5", "--input", "32x32"], "--input must be HxWxC"),
        (["--workdir", "/nonexistent"], "--workdir /nonexistent holds no config.json"),
    ]
    for argv, message in cases:
        assert main(["summary", *argv]) == errors.EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert err.startswith("cnnjax: error: ") and message in err and err.count("\n") == 1, err

"""Every experiment trains through `cnnjax train`; bad inputs fail before any compile with a clear message."""

import json
import os

import pytest
from experiment_runs import experiment, train, train_on_mock_data

from cnnjax.reporting import read_metrics


@pytest.mark.xla_lane
def test_default_experiment_reaches_97_percent_on_the_digits_test_split(tmp_path, capsys):
    """The README's main job, unchanged (fixed seed). Measured: 99.63 % in ~56 s on 2 cores."""
    assert train(tmp_path, experiment("digits_lenet5.py")) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.97 and summary["num_test_examples"] == 270
    assert summary["line"] in capsys.readouterr().out
    assert (tmp_path / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path / "tensorboard")
    validation = read_metrics(str(tmp_path), "validation")
    assert [r["step"] for r in validation] == [250, 500, 750, 1000, 1250, 1500]
    assert all(r["count"] == 270 for r in validation)


def test_digits_simple_cnn_trains_and_skips_an_uncommitted_checkpoint(tmp_path):
    args = ("train.num_steps=2", "model.overrides.widths=(8, 16)")
    assert train(tmp_path, experiment("digits_simple_cnn.py"), *args) == 0
    (tmp_path / "checkpoints" / "9" / "state").mkdir(parents=True)  # a step dir Orbax never committed
    assert train(tmp_path, experiment("digits_simple_cnn.py"), *args) == 0  # resumes from step 2, not 9
    assert [n.split(".")[0] for n in os.listdir(tmp_path / "checkpoints") if "uncommitted" in n] == ["9"]
    rows = [(r["step"], r["split"]) for r in read_metrics(str(tmp_path))]
    assert rows == [(0, "compile"), (2, "train"), (2, "validation"), (2, "test")], "each row once after a resume"


@pytest.mark.parametrize("arg", ["resnet20", "plain20"])
def test_cifar10_resnet_trains_a_step_on_mock_data(tmp_path, arg):
    shrink = ("model.overrides.stage_sizes=(1, 1, 1)", "model.overrides.width=4")
    summary = train_on_mock_data(tmp_path, "cifar10", f"{experiment('cifar10_resnet.py')}:{arg}", *shrink)
    assert summary["num_test_examples"] == 16


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("dataset.name='cifar10'",), "cnnjax data prepare cifar10"),
        (("dataset.image_size=8",), "needs height and width >= 16"),  # below LeNet-5 minimum
        (("model.overrides.in_channels=3",), "channel"),
        (("train.batch_size=0",), "train.batch_size must be at least 1"),
        (("model.overrides.widht=4",), "widht"),
    ],
)
def test_bad_inputs_fail_fast_with_a_clear_message(tmp_path, capsys, overrides, message):
    data_dir = tmp_path / "empty_data"  # nothing prepared here (digits prepares itself on first use)
    code = train(tmp_path / "run", experiment("digits_lenet5.py"), *overrides, f"dataset.data_dir='{data_dir}'")
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not os.path.exists(tmp_path / "run"), "nothing is written before everything is checked"


def test_another_runs_workdir_fails_with_the_differing_keys(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"name": "someone_else"}))
    assert train(tmp_path, experiment("digits_lenet5.py")) == 2
    err = capsys.readouterr().err
    assert "holds another run" in err and "name: stored 'someone_else', now 'digits_lenet5'" in err
    assert json.loads((tmp_path / "config.json").read_text()) == {"name": "someone_else"}

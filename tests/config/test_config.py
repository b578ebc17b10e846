"""Config files, overrides and the CLI's short error messages (no traceback)."""

import glob
import os

import pytest

from cnnjax.cli import main
from cnnjax.config import ConfigError, apply_overrides, base_config, load_config, validate_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT = os.path.join(REPO, "experiments", "digits_lenet5.py")


@pytest.fixture
def config():
    c = base_config()
    c.lock()
    return c


def test_overrides_are_typed(config):
    apply_overrides(
        config,
        ["optimizer.learning_rate=0.5", "train.num_steps=7", "schedule.boundaries=(3, 5)", "dataset.data_dir=/x"],
    )
    assert (config.optimizer.learning_rate, config.train.num_steps) == (0.5, 7)
    assert config.schedule.boundaries == (3, 5) and config.dataset.data_dir == "/x"
    apply_overrides(config, ["model.overrides.widths=(4, 8)", "model.overrides.activation=relu"])
    assert config.model.overrides.widths == (4, 8) and config.model.overrides.activation == "relu"


@pytest.mark.parametrize(
    "override,message",
    [
        (
            "optimizer.learning_rat=0.5",
            "unknown config key 'optimizer.learning_rat'. Did you mean 'optimizer.learning_rate'?",
        ),
        ("learning_rate=0.5", "Did you mean 'optimizer.learning_rate'?"),
        ("train.num_steps=1.5", "config.train.num_steps expects int, got '1.5'"),
        ("train.num_steps=many", "cannot parse 'many' as int"),
        ("parallel.sync_batch_stats=1", "expects True or False"),
        ("seed", "is not of the form key=value"),
    ],
)
def test_bad_overrides_say_what_is_wrong(config, override, message):
    with pytest.raises(ConfigError) as error:
        apply_overrides(config, [override])
    assert message in str(error.value)


@pytest.mark.parametrize(
    "override,message",
    [
        ("optimizer.name=lamb", "choose one of sgd, adamw, rmsprop"),
        ("dataset.num_threads=-3", r"config.dataset.num_threads must be -1 \(auto\) or >= 0, got -3"),
    ],
)
def test_invalid_values_are_refused(config, override, message):
    apply_overrides(config, [override])
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_every_experiment_file_loads_locked():
    for path in glob.glob(os.path.join(REPO, "experiments", "*.py")):
        config = load_config(path)
        validate_config(config)
        with pytest.raises(AttributeError):
            config.new_key = 1


def test_config_argument_reaches_get_config():
    path = os.path.join(REPO, "experiments", "cifar10_resnet.py")
    assert load_config(f"{path}:plain56").model.name == "cifar_plain56"
    with pytest.raises(ValueError, match="resnet or plain"):
        load_config(f"{path}:resnet57")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--config.optimizer.learning_rat=0.5"], "Did you mean 'optimizer.learning_rate'?"),
        (["--config.train.batch_size=big"], "cannot parse 'big' as int"),
    ],
)
def test_cli_prints_a_short_error_without_traceback(tmp_path, capsys, args, message):
    code = main(["train", "--config", DEFAULT, "--workdir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not os.listdir(tmp_path), "nothing is written for a bad config"


def test_cli_missing_config_file(tmp_path, capsys):
    assert main(["train", "--config", "nope.py", "--workdir", str(tmp_path)]) == 2
    assert "config file not found: nope.py" in capsys.readouterr().err

"""`cnnjax`'s errors: a CnnjaxError (what its user resolves) is one line and exit code 2 (3 for a diverged run);
any other exception is a bug and keeps its traceback; CNNJAX_TRACEBACK=1 shows a CnnjaxError's traceback too."""

import pytest
from experiment_runs import experiment, train

from cnnjax import errors
from cnnjax.config import ConfigError
from cnnjax.data.catalog import DatasetNotPreparedError
from cnnjax.train import loop

LENET = experiment("digits_lenet5.py")


def test_user_errors_are_cnnjax_errors_and_input_errors_are_value_errors():
    assert issubclass(ConfigError, errors.InvalidInputError) and issubclass(errors.InvalidInputError, ValueError)
    for error in (DatasetNotPreparedError, errors.WorkdirLockedError, errors.DivergedError, ConfigError):
        assert issubclass(error, errors.CnnjaxError)


def test_a_config_error_is_one_line_and_exit_code_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CNNJAX_TRACEBACK", raising=False)
    assert train(tmp_path, LENET, "train.batch_size=0") == errors.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err == "cnnjax: error: config.train.batch_size must be at least 1, got 0\n", err
    monkeypatch.setenv("CNNJAX_TRACEBACK", "1")
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        train(tmp_path, LENET, "train.batch_size=0")


def test_a_bug_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    """A ValueError that is no CnnjaxError (here raised where the run starts) is a bug: it propagates."""
    monkeypatch.delenv("CNNJAX_TRACEBACK", raising=False)

    def broken_run(config, workdir):
        raise ValueError("a bug inside cnnjax train")

    monkeypatch.setattr(loop, "run", broken_run)
    with pytest.raises(ValueError, match="a bug inside cnnjax train") as raised:
        train(tmp_path, LENET)
    assert not isinstance(raised.value, errors.CnnjaxError)
    assert "broken_run" in [entry.name for entry in raised.traceback]
    assert "cnnjax: error" not in capsys.readouterr().err

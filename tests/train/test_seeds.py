"""`seed` (initialisation, dropout) and `data_seed` (data order, augmentation; default `seed`) are held apart:
the run's initial state follows `seed` alone and its train batches `data_seed` alone."""

import pytest
from experiment_runs import experiment, train

import cnnjax.train.loop
import cnnjax.train.mapped_steps

TINY = ("model.overrides.widths=(4, 8)", "model.overrides.convs_per_stage=1", "train.num_steps=1")


@pytest.mark.parametrize(
    "overrides,init_seed,stream_seed",
    [((), 0, 0), (("seed=3",), 3, 3), (("seed=3", "data_seed=5"), 3, 5), (("data_seed=5",), 0, 5)],
)
def test_initialisation_follows_seed_and_the_data_stream_data_seed(
    tmp_path, monkeypatch, overrides, init_seed, stream_seed
):
    seen = {}
    create_train_state, train_batches = cnnjax.train.mapped_steps.create_train_state, cnnjax.train.loop.train_batches

    def recording_state(*args):
        seen["init"] = args[3]
        return create_train_state(*args)

    def recording_batches(*args, **kwargs):
        seen["stream"] = kwargs["seed"]
        return train_batches(*args, **kwargs)

    monkeypatch.setattr(cnnjax.train.mapped_steps, "create_train_state", recording_state)
    monkeypatch.setattr(cnnjax.train.loop, "train_batches", recording_batches)
    assert train(tmp_path, experiment("digits_simple_cnn.py"), *TINY, *overrides) == 0
    assert seen == {"init": init_seed, "stream": stream_seed}


def test_a_negative_data_seed_is_refused_in_one_line(tmp_path, capsys):
    assert train(tmp_path / "run", experiment("digits_simple_cnn.py"), *TINY, "data_seed=-1") == 2
    assert "config.seed and config.data_seed must be >= 0" in capsys.readouterr().err

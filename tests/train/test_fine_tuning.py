"""Fine-tuning: frozen parameters and their BatchNorm statistics stay bit-identical through a run; a run starts from
another run's weights (model.init_from); layer-wise rate decay scales each layer's updates."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from experiment_runs import experiment, train

from cnnjax.checkpoint.variables import checkpoint_step, restore_variables
from cnnjax.config.loading import load_config
from cnnjax.errors import EXIT_USER_ERROR, InvalidInputError
from cnnjax.models import create_model
from cnnjax.pretrained.init_from import graft
from cnnjax.train.experiment import prepare_experiment
from cnnjax.train.frozen import frozen_batch_norm
from cnnjax.train.layer_decay import decay_by_layer, layer_order
from cnnjax.train.optimizer import make_optimizer
from cnnjax.train.state import create_train_state

STEPS = 50
FROZEN = ("stage1_*", "stage2_conv1/*")
RUN = (
    "model.name=simple_cnn",
    "model.overrides.batch_norm=True",
    "train.batch_size=32",
    f"train.num_steps={STEPS}",
    f"train.eval_every_steps={STEPS}",
    f"train.checkpoint_every_steps={STEPS}",
    "schedule.warmup_steps=0",
)


def _flat(tree) -> dict:
    return {
        jax.tree_util.keystr(k, simple=True, separator="/"): np.asarray(v) for k, v in jax.tree.leaves_with_path(tree)
    }


def _frozen(path: str) -> bool:
    return path.startswith("stage1_") or path.startswith("stage2_conv1/")


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("frozen")
    frozen = "(" + ",".join(f"'{p}'" for p in FROZEN) + ",)"
    assert train(workdir, experiment("digits_lenet5.py"), *RUN, f"train.frozen={frozen}") == 0
    config = load_config(experiment("digits_lenet5.py"), RUN)
    exp = prepare_experiment(config)
    initial = create_train_state(exp.model, make_optimizer(config)[0], exp.image_shape, config.seed)
    directory = str(workdir / "checkpoints")
    return workdir, initial, restore_variables(directory, checkpoint_step(directory))


def test_frozen_parameters_and_statistics_stay_bit_identical_and_the_others_train(frozen_run):
    _, initial, final = frozen_run
    for collection, start in (("params", initial.params), ("batch_stats", initial.batch_stats)):
        before, after = _flat(start), _flat(final[collection])
        assert before.keys() == after.keys()
        frozen = [p for p in before if _frozen(p)]
        trained = [p for p in before if not _frozen(p)]
        assert frozen and trained
        for path in frozen:
            assert np.array_equal(before[path], after[path]), f"{collection}/{path} changed"
        for path in trained:
            assert not np.array_equal(before[path], after[path]), f"{collection}/{path} did not train"


def test_a_run_from_another_runs_workdir_starts_from_its_weights(frozen_run, tmp_path, capsys):
    source, _, trained = frozen_run
    everything_but_the_head = "('stage*',)"
    overrides = (*RUN[:3], "train.num_steps=3", "train.eval_every_steps=3", "train.checkpoint_every_steps=3")
    assert (
        train(
            tmp_path,
            experiment("digits_lenet5.py"),
            *overrides,
            f"model.init_from={source}",
            f"train.frozen={everything_but_the_head}",
        )
        == 0
    )
    assert f"init_from {source}: loaded 32 of 32 arrays" in capsys.readouterr().err
    directory = str(tmp_path / "checkpoints")
    after = restore_variables(directory, checkpoint_step(directory))
    for collection in ("params", "batch_stats"):
        source_arrays, arrays = _flat(trained[collection]), _flat(after[collection])
        for path in arrays:
            same = np.array_equal(source_arrays[path], arrays[path])
            assert same != path.startswith("head/"), path  # the head trained on, the frozen rest is the source's


def test_graft_places_a_classifier_in_a_segmenter_backbone_and_leaves_other_heads_fresh():
    fresh = {
        "params": {
            "backbone": {"conv": {"kernel": np.zeros((3, 3, 1, 4))}},
            "classifier": {"kernel": np.zeros((1, 1, 4, 3)), "bias": np.zeros(3)},
        }
    }
    source = {"params": {"conv": {"kernel": np.ones((3, 3, 1, 4))}, "head": {"kernel": np.ones((4, 10))}}}
    variables, line = graft(fresh, source, num_classes=3)
    assert np.array_equal(variables["params"]["backbone"]["conv"]["kernel"], np.ones((3, 3, 1, 4)))
    assert line == (
        "loaded 1 of 3 arrays; initialised fresh: params/classifier/kernel, params/classifier/bias; "
        "not used from the source: params/head/kernel"
    )
    other_head = {"params": {"classifier": {"kernel": np.ones((1, 1, 4, 21)), "bias": np.ones(21)}, **source["params"]}}
    variables, line = graft(fresh, other_head, num_classes=3)
    assert line.startswith("loaded 1 of 3 arrays; initialised fresh: params/classifier/kernel, params/classifier/bias")
    with pytest.raises(InvalidInputError, match=r"arrays of another shape: params/backbone/conv/kernel \(3, 3, 1, 8\)"):
        graft(fresh, {"params": {"conv": {"kernel": np.ones((3, 3, 1, 8))}}}, num_classes=3)
    with pytest.raises(InvalidInputError, match=r"no array of the source fits the model"):
        graft(fresh, {"params": {"other": {"kernel": np.ones(2)}}}, num_classes=3)


def test_frozen_batch_norm_normalises_with_running_statistics_and_keeps_them():
    model = create_model("simple_cnn", num_classes=4, batch_norm=True, in_channels=1)
    x = jax.random.normal(jax.random.key(0), (4, 16, 16, 1))
    variables = jax.jit(functools.partial(model.init, train=False))(jax.random.key(1), x)
    stats = jax.tree.map(lambda s: s + 0.3, variables["batch_stats"])  # not the identity
    variables = {"params": variables["params"], "batch_stats": stats}

    def training():  # a fresh jit each time: the interceptor acts when the call is traced
        return jax.jit(functools.partial(model.apply, train=True, mutable=["batch_stats"]))

    evaluated = jax.jit(functools.partial(model.apply, train=False))(variables, x)
    with frozen_batch_norm(("*",)):
        trained, updates = training()(variables, x)
    np.testing.assert_array_equal(trained, evaluated)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(updates["batch_stats"]), jax.tree.leaves(stats)))
    partly, updates = training()(variables, x)
    assert not np.array_equal(partly, evaluated)


def test_layer_decay_orders_layers_by_the_forward_pass_and_scales_their_updates():
    classifier = create_model("resnet18", num_classes=3, stage_sizes=(1, 1, 1, 1))
    order = layer_order(classifier, (32, 32, 3))
    assert order == ["stem_conv", "stage1_block1", "stage2_block1", "stage3_block1", "stage4_block1", "head"]
    segmenter = create_model("deeplabv3_resnet18", num_classes=3, backbone_overrides={"stage_sizes": (1, 1, 1, 1)})
    assert layer_order(segmenter, (32, 32, 3)) == [
        *(f"backbone/{layer}" for layer in order[:-1]),
        "aspp",
        "head_conv",
        "classifier",
    ]
    params = {layer: {"w": jnp.ones(2)} for layer in ("a", "b", "c")}
    tx = decay_by_layer(optax.sgd(0.1), ["a", "b", "c"], 0.5)
    updates, _ = tx.update(params, tx.init(params), params)
    assert {k: float(v["w"][0]) for k, v in updates.items()} == pytest.approx({"a": -0.025, "b": -0.05, "c": -0.1})


def test_a_frozen_pattern_that_matches_nothing_and_a_missing_init_from_are_named(tmp_path, capsys):
    assert train(tmp_path / "a", experiment("digits_lenet5.py"), *RUN, "train.frozen=('stem/*',)") == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert "config.train.frozen pattern 'stem/*' matches no parameter path" in error
    assert "top-level modules: head, stage1_conv1, stage1_conv2" in error
    assert not (tmp_path / "a" / "checkpoints").exists() or not any((tmp_path / "a" / "checkpoints").iterdir())
    assert (
        train(tmp_path / "b", experiment("digits_lenet5.py"), *RUN, "model.init_from=/nonexistent/run")
        == EXIT_USER_ERROR
    )
    assert "config.model.init_from: no such file or directory: /nonexistent/run" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()

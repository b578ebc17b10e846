"""The fine-tuning experiments, shrunk: a ResNet-18 pretrained on the generated shapes classification
(`shapes_classification.py:resnet18`) starts `finetune_shapes_deeplabv3.py:pretrained`'s backbone and
`linear_probe_shapes.py`; `:scratch` is the same segmenter from random initialisation."""

import json

import jax
import pytest
from experiment_runs import experiment, summary, train

from cnnjax.checkpoint.variables import checkpoint_step, restore_variables

BACKBONE = "{'stage_sizes': (1, 1, 1, 1), 'width': 8}"
SHORT = ("train.num_steps=20", "train.batch_size=16", "train.eval_batch_size=64", "train.eval_every_steps=0")
PRETRAIN = (
    *SHORT,
    "dataset.name='shapes_classification/easy'",
    "model.overrides.stage_sizes=(1, 1, 1, 1)",
    "model.overrides.width=8",
)
SEGMENTER = (*SHORT, f"model.overrides.backbone_overrides={BACKBONE}", "model.overrides.width=16")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("shapes_resnet18")
    assert train(workdir, experiment("shapes_classification.py:resnet18"), *PRETRAIN) == 0
    return workdir


def _arrays(variables) -> int:
    return len(jax.tree.leaves(variables))


@pytest.mark.parametrize("arg", ["pretrained", "scratch"])
def test_deeplabv3_fine_tunes_from_the_pretrained_classifier_or_from_scratch(pretrained, tmp_path, capsys, arg):
    source = (f"model.init_from={pretrained}",) if arg == "pretrained" else ()
    assert train(tmp_path, experiment(f"finetune_shapes_deeplabv3.py:{arg}"), *SEGMENTER, *source) == 0
    error = capsys.readouterr().err
    assert summary(tmp_path)["test_miou"] > 0
    config = json.loads((tmp_path / "config.json").read_text())
    if arg == "scratch":
        assert config["model"]["init_from"] is None and "init_from" not in error
        return
    classifier = restore_variables(str(pretrained / "checkpoints"), checkpoint_step(str(pretrained / "checkpoints")))
    backbone_arrays = _arrays(classifier) - 2  # all but the classifier's head (kernel, bias)
    assert f"loaded {backbone_arrays} of " in error
    assert "not used from the source: params/head/bias, params/head/kernel" in error


def test_the_linear_probe_trains_the_head_alone(pretrained, tmp_path, capsys):
    assert train(tmp_path, experiment("linear_probe_shapes.py"), *PRETRAIN, f"model.init_from={pretrained}") == 0
    classifier = restore_variables(str(pretrained / "checkpoints"), checkpoint_step(str(pretrained / "checkpoints")))
    probe = restore_variables(str(tmp_path / "checkpoints"), checkpoint_step(str(tmp_path / "checkpoints")))
    for (path, before), after in zip(jax.tree.leaves_with_path(classifier), jax.tree.leaves(probe), strict=True):
        name = jax.tree_util.keystr(path, simple=True, separator="/")
        assert (before == after).all() != name.startswith("params/head/"), name

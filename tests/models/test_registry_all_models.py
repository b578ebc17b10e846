"""Every registered model, classifier or segmenter, at full size through `jax.eval_shape` (traced, never compiled)."""

import jax
import jax.numpy as jnp
import pytest

from cnnjax.models import create_model, list_models
from cnnjax.models.registry import model_task


@pytest.mark.parametrize("name", list_models(task="classification"))
def test_full_size_model_gives_logits_at_two_input_sizes(name):
    model = create_model(name, num_classes=7, in_channels=3)
    smallest = max(model.min_input_size, 32)
    for size in (smallest, smallest + 17):  # initialised per size: LeNet-5's dense layer fixes its input size
        # init_with_output: the initialisation's own forward pass gives the logits (one trace, not two)
        logits, _ = jax.eval_shape(
            lambda s=size: model.init_with_output(jax.random.key(0, impl="rbg"), jnp.zeros((2, s, s, 3)), train=False)
        )
        assert logits.shape == (2, 7), (name, size)


@pytest.mark.parametrize("name", list_models(task="segmentation"))
def test_full_size_segmenter_gives_per_pixel_logits_at_two_input_sizes(name):
    model = create_model(name, num_classes=7, in_channels=3)
    smallest = max(model.min_input_size, 32)
    first, second = (smallest, smallest), (smallest + 17, smallest + 4)
    logits, variables = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0, impl="rbg"), jnp.zeros((2, *first, 3)), train=False)
    )
    assert logits.shape == (2, *first, 7), (name, first)
    # parameters do not depend on the size: those of the first size at the second
    logits = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((2, *second, 3)), train=False), variables)
    assert logits.shape == (2, *second, 7), (name, second)


def test_list_models_takes_shell_wildcards():
    assert list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert set(list_models("vgg*_bn")) == {"vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"}


def test_every_model_has_a_task_and_unknown_names_suggest_close_ones():
    assert set(list_models()) == set(list_models(task="classification")) | set(list_models(task="segmentation"))
    assert model_task("resnet18") == "classification"
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        model_task("resnet81")

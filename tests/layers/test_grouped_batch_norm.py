"""BatchNorm over groups of a fixed number of images: equal to statistics by hand, independent of the
device count (4 emulated CPU devices, in a subprocess), and the tiling rule checked before compiling."""

import jax
import jax.numpy as jnp
import pytest
from subprocesses import run_worker

from cnnjax.config.layout import check_group_size
from cnnjax.models import create_model


def test_groups_equal_by_hand_and_four_devices_equal_one():
    output = run_worker("grouped_bn_check", num_devices=4)
    assert output.strip().endswith("OK"), output


@pytest.mark.parametrize(("group", "per_device", "devices"), [(32, 32, 8), (8, 32, 1), (64, 32, 8), (256, 32, 8)])
def test_groups_that_tile_the_batch_pass(group, per_device, devices):
    check_group_size(group, per_device, devices)


@pytest.mark.parametrize(("group", "per_device", "devices"), [(12, 32, 8), (96, 32, 8), (64, 32, 1), (512, 32, 8)])
def test_groups_that_do_not_tile_the_batch_raise(group, per_device, devices):
    with pytest.raises(ValueError, match=f"groups of {group} images do not tile a per-device batch of {per_device}"):
        check_group_size(group, per_device, devices)


def test_grouped_model_has_batch_norms_variables_and_float32_statistics():
    """By abstract evaluation (nothing compiles)."""
    key, images = jax.random.key(0), jax.ShapeDtypeStruct((8, 8, 8, 3), jnp.float32)
    shapes = [
        jax.tree.map(jnp.shape, jax.eval_shape(create_model("cifar_resnet20", num_classes=10, **kw).init, key, images))
        for kw in ({}, {"bn_group_size": 4})
    ]
    assert shapes[0] == shapes[1]
    small = {"bn_group_size": 4, "stage_sizes": (1, 1, 1), "width": 4}
    one_image = jax.ShapeDtypeStruct((1, 8, 8, 3), jnp.float32)  # initialisation ignores the groups
    variables = jax.eval_shape(create_model("cifar_resnet20", num_classes=10, **small).init, key, one_image)
    bf16 = create_model("cifar_resnet20", num_classes=10, dtype=jnp.bfloat16, **small)

    def train_apply(batch):
        return jax.eval_shape(lambda v, x: bf16.apply(v, x, train=True, mutable=["batch_stats"]), variables, batch)

    logits, state = train_apply(images)  # two groups of 4
    assert logits.dtype == jnp.bfloat16 and {s.dtype for s in jax.tree.leaves(state)} == {jnp.dtype(jnp.float32)}
    with pytest.raises(ValueError, match="span devices .* needs an axis_name"):
        train_apply(jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float32))

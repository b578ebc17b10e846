"""Conv dispatch follows the model's explicit platform, never the host's backend: a train step
exported for CUDA from this CPU host holds no oneDNN custom call; the CPU lowering does."""

import jax
import jax.numpy as jnp
import optax
import pytest

from cnnjax.config import base_config
from cnnjax.layers import conv_nd, conv_target
from cnnjax.models import create_model
from cnnjax.native.onednn import onednn_available
from cnnjax.parallel import AXIS
from cnnjax.train.experiment import build_model

KEY = jax.random.key(0, impl="rbg")
ONEDNN_CALL = "cnnjax_onednn"
# (model, overrides, task): a plain conv net, a depthwise one, one with transposed convs
MODELS = [
    ("cifar_resnet20", {"stage_sizes": (1, 1, 1), "width": 4}, "classification"),
    ("mobilenet_v2", {"width_multiplier": 0.25, "dropout_rate": 0.0}, "classification"),
    ("unet", {"depth": 2, "width": 4}, "segmentation"),
]


def lowered_train_step(name, overrides, task, **target):
    """The lowering of one SGD train step (grad of the loss through BatchNorm in train mode)."""
    model = create_model(name, num_classes=3, **target, **overrides)
    images = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    labels = jax.ShapeDtypeStruct((2, 32, 32) if task == "segmentation" else (2,), jnp.int32)
    variables = jax.eval_shape(lambda x: model.init(KEY, x, train=False), images)

    def train_step(variables, images, labels):
        def loss_fn(params):
            logits, updates = model.apply({**variables, "params": params}, images, train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), updates

        grads, updates = jax.grad(loss_fn, has_aux=True)(variables["params"])
        params = jax.tree.map(lambda p, g: p - 0.1 * g, variables["params"], grads)
        return {**variables, **updates, "params": params}

    return train_step, (variables, images, labels)


@pytest.mark.parametrize(("name", "overrides", "task"), MODELS)
def test_cuda_export_has_no_onednn_call_and_cpu_lowering_uses_it(name, overrides, task):
    step, args = lowered_train_step(name, overrides, task, platform="cuda")
    exported = jax.export.export(jax.jit(step), platforms=["cuda"])(*args)
    assert "stablehlo.convolution" in exported.mlir_module()
    assert ONEDNN_CALL not in exported.mlir_module()
    step, args = lowered_train_step(name, overrides, task, platform="cpu")
    assert (ONEDNN_CALL in jax.jit(step).lower(*args).as_text()) == onednn_available()


def test_xla_target_implementation_and_default_are_all_xla():
    for target in ({"platform": "cpu", "conv_implementation": "xla"}, {}):
        step, args = lowered_train_step(*MODELS[2], **target)
        assert ONEDNN_CALL not in jax.jit(step).lower(*args).as_text()


@pytest.mark.skipif(not onednn_available(), reason="oneDNN is not available here")
def test_onednn_target_implementation_reaches_every_conv_of_a_model():
    """A U-Net's forward and transposed convs, with no target platform: oneDNN calls only."""
    step, args = lowered_train_step(*MODELS[2], conv_implementation="onednn")
    text = jax.jit(step).lower(*args).as_text()
    assert ONEDNN_CALL in text and "stablehlo.convolution" not in text


def test_target_is_scoped_and_checked():
    x, k = jnp.ones((1, 6, 6, 4)), jnp.ones((3, 3, 4, 4))
    with conv_target("cpu"):
        inside = jax.jit(lambda a, b: conv_nd(a, b)).lower(x, k).as_text()
    outside = jax.jit(lambda a, b: conv_nd(a, b)).lower(x, k).as_text()  # a new function: traced anew
    assert (ONEDNN_CALL in inside) == onednn_available() and ONEDNN_CALL not in outside
    with pytest.raises(ValueError, match="unknown platform 'metal'"):
        create_model("lenet5", num_classes=3, platform="metal")
    with pytest.raises(ValueError, match="unknown conv implementation 'fast'"):
        create_model("lenet5", num_classes=3, conv_implementation="fast")
    with pytest.raises(ValueError, match="'onednn' runs on XLA:CPU only, not on 'cuda'"):
        create_model("lenet5", num_classes=3, platform="cuda", conv_implementation="onednn")


@pytest.mark.parametrize(("platform", "dtype"), [("cpu", jnp.float32), ("gpu", jnp.bfloat16), ("tpu", jnp.bfloat16)])
def test_the_loop_builds_the_model_for_its_devices_platform(platform, dtype):
    config = base_config()
    config.model.name, config.model.dtype, config.parallel.bn_group_size = "cifar_resnet20", "auto", 4
    model = build_model(config, num_classes=10, in_channels=3, platform=platform)
    assert (model.platform, model.dtype, model.bn_group_size, model.bn_axis_name) == (platform, dtype, 4, AXIS)

"""ImageNet ResNets: parameter counts equal torchvision's, full-size shapes by abstract evaluation
(also with ``output_stride`` 8 / 16), one compiled train-mode forward + gradient per block type
on shrunk instances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from abstract_models import KEY, abstract_variables, count_params

from cnnjax.models.registry import create_model, list_models
from cnnjax.models.resnet import BasicBlock, Bottleneck, ResNet

# torchvision.models.<name>(num_classes=1000): sum(p.numel() for p in model.parameters()).
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


def test_registered():
    assert list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_param_count_matches_torchvision(name):
    assert count_params(abstract_variables(name)["params"]) == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name,size", [("resnet18", 224), ("resnet50", 160)])
def test_full_size_forward_shape(name, size):
    model = create_model(name, num_classes=1000)
    variables = abstract_variables(name)
    out, features = jax.eval_shape(
        lambda v, x: model.apply(v, x, return_features=True),
        variables,
        jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32),
    )
    assert out.shape == (2, 1000) and out.dtype == jnp.float32
    feats = {k: v.shape for k, v in features.items()}
    channels = 512 * (4 if name == "resnet50" else 1)
    assert feats["stem"] == (2, size // 2, size // 2, 64)
    assert feats["stage4"] == (2, size // 32, size // 32, channels)
    assert feats["pre_logits"] == (2, channels)


@pytest.mark.parametrize("name,output_stride", [("resnet50", 8), ("resnet50", 16), ("resnet18", 8)])
def test_output_stride_dilates_with_same_params(name, output_stride):
    model = create_model(name, num_classes=1000, output_stride=output_stride)
    variables = abstract_variables(name, output_stride=output_stride)
    assert count_params(variables["params"]) == TORCHVISION_PARAMS[name]
    assert jax.tree.map(lambda a: a.shape, variables) == jax.tree.map(lambda a: a.shape, abstract_variables(name))
    _, features = jax.eval_shape(
        lambda v, x: model.apply(v, x, return_features=True),
        variables,
        jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32),
    )
    feats = {k: v.shape[1:3] for k, v in features.items()}
    side = 224 // output_stride
    assert feats["stage4"] == (side, side)
    assert feats["stage3"] == ((side, side) if output_stride == 8 else (14, 14))
    assert feats["stage2"] == (28, 28)


def test_bottleneck_is_v1_5_with_torchvision_shapes():
    params = abstract_variables("resnet50")["params"]
    block = params["stage2_block1"]
    assert block["conv1"]["conv"]["kernel"].shape == (1, 1, 256, 128)
    assert block["conv2"]["conv"]["kernel"].shape == (3, 3, 128, 128)
    assert block["conv3"]["conv"]["kernel"].shape == (1, 1, 128, 512)
    assert block["downsample"]["conv"]["kernel"].shape == (1, 1, 256, 512)
    assert "downsample" not in params["stage2_block2"]
    assert "downsample" in params["stage1_block1"]  # 64 -> 256 channels
    assert "downsample" not in abstract_variables("resnet18")["params"]["stage1_block1"]
    assert params["stem_conv"]["conv"]["kernel"].shape == (7, 7, 3, 64)
    assert params["head"]["kernel"].shape == (2048, 1000)


@pytest.mark.xla_lane
@pytest.mark.parametrize("block", [BasicBlock, Bottleneck])
def test_train_forward_and_grad_shrunk(block):
    model = ResNet(
        num_classes=10, stage_sizes=(1, 1, 1, 1), block=block, width=8, zero_init_residual=True, platform="cpu"
    )
    x = jax.random.normal(jax.random.key(1, impl="rbg"), (2, 32, 32, 3))

    variables = jax.jit(model.init)(KEY, x)  # jitted: eager init compiles op by op (slower)
    last = "conv2" if block is BasicBlock else "conv3"
    np.testing.assert_array_equal(variables["params"]["stage3_block1"][last]["norm"]["scale"], 0.0)
    np.testing.assert_array_equal(variables["params"]["stage3_block1"]["conv1"]["norm"]["scale"], 1.0)

    @jax.jit
    def step(params, batch_stats):
        def loss(p):
            (logits, features), state = model.apply(
                {"params": p, "batch_stats": batch_stats}, x, train=True, return_features=True, mutable=["batch_stats"]
            )
            return jnp.mean(logits**2), (state, features)

        return jax.value_and_grad(loss, has_aux=True)(params)

    (value, (state, features)), grads = step(variables["params"], variables["batch_stats"])
    assert np.isfinite(value)
    assert jax.tree.structure(grads) == jax.tree.structure(variables["params"])
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert np.abs(np.asarray(grads["head"]["kernel"])).sum() > 0
    feats = {k: v.shape for k, v in features.items()}
    expansion = block.expansion
    assert feats["stem"] == (2, 16, 16, 8)
    assert feats["stage1"] == (2, 8, 8, 8 * expansion)
    assert feats["stage4"] == (2, 1, 1, 64 * expansion)
    assert not jax.tree.all(
        jax.tree.map(lambda a, b: np.array_equal(a, b), state["batch_stats"], variables["batch_stats"])
    )


def test_bad_options_raise():
    x = jnp.zeros((1, 32, 32, 3))
    with pytest.raises(ValueError, match="output_stride"):
        ResNet(num_classes=10, output_stride=4).init(KEY, x)
    with pytest.raises(ValueError, match="block"):
        ResNet(num_classes=10, block="nope").init(KEY, x)
    with pytest.raises(ValueError, match="input channels"):
        ResNet(num_classes=10).init(KEY, jnp.zeros((1, 32, 32, 1)))


def test_string_block_and_tiny_input():
    model = ResNet(num_classes=3, block="bottleneck", stage_sizes=(1, 1, 1, 1), width=4)
    out = jax.eval_shape(model.init_with_output, KEY, jax.ShapeDtypeStruct((1, 1, 1, 3), jnp.float32))[0]
    assert out.shape == (1, 3)

"""ResNet variants (pre-activation, wide, ResNeXt, SE, drop-path): parameter counts by abstract
evaluation, full-size shapes, one compiled train-mode forward + gradient per block type on shrunk
instances."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from abstract_models import KEY, abstract_variables, count_params

from cnnjax.layers import batch_norm
from cnnjax.models import CifarPreActResNet, PreActResNet, ResNet, create_model, list_models
from cnnjax.models.preact_resnet import PreActBasicBlock
from cnnjax.models.resnet import residual_stages

# 1000 classes: torchvision (ResNeXt, wide ResNet) and timm (seresnet50) counts; the pre-act ImageNet
# nets follow timm's resnetv2 layout (stem conv without BN, every block pre-activated, final BN).
IMAGENET_PARAMS = {
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "seresnet50": 28_088_024,
    "preact_resnet18": 11_687_720,
    "preact_resnet34": 21_795_880,
    "preact_resnet50": 25_549_352,
    "preact_resnet101": 44_541_480,
    "preact_resnet152": 60_185_128,
}
# 10 classes.  Pre-act ResNet-164 = bearpaw's pytorch-classification preresnet(depth=164);
# WRN-28-10 = the WRN authors' PyTorch code.  Hand count for bottleneck stages of n blocks:
#   stage s (planes p, input c): first block 2c + c*p + 2p + 9p*p + 2p + 4p*p + c*4p,
#   others 8p + 4p*p + 2p + 9p*p + 2p + 4p*p; + stem 432 + final BN 512 + head 2,570.
CIFAR_PARAMS = {
    "cifar_preact_resnet110": 1_730_522,
    "cifar_preact_resnet164": 1_703_258,
    "cifar_preact_resnet1001": 10_327_706,
    "wrn16_8": 10_961_370,
    "wrn28_10": 36_479_194,
    "wrn40_4": 8_949_210,
}


def shapes(tree):
    return jax.tree.map(lambda a: a.shape, tree)


def test_registered():
    assert list_models("preact_resnet*") == [f"preact_resnet{d}" for d in (101, 152, 18, 34, 50)]
    assert list_models("cifar_preact_resnet*") == [f"cifar_preact_resnet{d}" for d in (1001, 110, 164)]
    assert list_models("wrn*") == ["wrn16_8", "wrn28_10", "wrn40_4"]
    assert set(IMAGENET_PARAMS) <= set(list_models())


def test_cifar_fields_for_configs():
    fields = ("stage_sizes", "block", "width", "widen_factor", "dropout_rate")
    model = create_model("cifar_preact_resnet164", num_classes=10)
    assert [getattr(model, f) for f in fields] == [(18, 18, 18), "bottleneck", 16, 1, 0.0]
    assert create_model("cifar_preact_resnet1001", num_classes=10).stage_sizes == (111, 111, 111)
    assert create_model("cifar_preact_resnet110", num_classes=10).block == "basic"
    model = create_model("wrn28_10", num_classes=10, dropout_rate=0.3)
    assert [getattr(model, f) for f in fields] == [(4, 4, 4), "basic", 16, 10, 0.3]


@pytest.mark.parametrize("name", sorted(IMAGENET_PARAMS))
def test_imagenet_param_counts(name):
    assert count_params(abstract_variables(name)["params"]) == IMAGENET_PARAMS[name]


@pytest.mark.parametrize("name", sorted(CIFAR_PARAMS))
def test_cifar_param_counts(name):
    assert count_params(abstract_variables(name, num_classes=10, size=32)["params"]) == CIFAR_PARAMS[name]


def test_layouts():
    params = abstract_variables("resnext50_32x4d")["params"]
    assert params["stage1_block1"]["conv2"]["conv"]["kernel"].shape == (3, 3, 4, 128)  # 32 groups of 4
    assert params["stage4_block1"]["conv3"]["conv"]["kernel"].shape == (1, 1, 1024, 2048)
    se = abstract_variables("seresnet50")["params"]["stage4_block1"]["se"]
    assert shapes(se) == {
        "fc1": {"kernel": (2048, 128), "bias": (128,)},
        "fc2": {"kernel": (128, 2048), "bias": (2048,)},
    }
    params = abstract_variables("cifar_preact_resnet164", num_classes=10, size=32)["params"]
    block = params["stage1_block1"]
    assert shapes(block["downsample"]) == {"kernel": (1, 1, 16, 64)}  # bare conv from the pre-activation
    assert block["norm1"]["scale"].shape == (16,)
    assert block["conv2"]["conv"]["kernel"].shape == (3, 3, 16, 16)
    assert shapes(block["conv3"]) == {"kernel": (1, 1, 16, 64)}
    assert "downsample" not in params["stage1_block2"]
    assert params["final_norm"]["scale"].shape == (256,) and shapes(params["stem_conv"]) == {"kernel": (3, 3, 3, 16)}
    params = abstract_variables("wrn28_10", num_classes=10, size=32)["params"]
    assert params["stage1_block1"]["downsample"]["kernel"].shape == (1, 1, 16, 160)
    assert params["stage3_block1"]["conv1"]["conv"]["kernel"].shape == (3, 3, 320, 640)
    assert "downsample" not in params["stage3_block2"]


def test_preact_projection_reads_the_preactivated_input():
    # Eval-mode BN with its initial statistics is ~identity, so ReLU zeroes a negative input: a
    # shortcut from the pre-activation gives 0, one from the raw input would not.
    block = PreActBasicBlock(8, strides=2, norm=batch_norm(train=False))
    x = -jnp.ones((1, 8, 8, 4))
    out, variables = jax.jit(block.init_with_output)(KEY, x)
    assert "downsample" in variables["params"] and out.shape == (1, 4, 4, 8)
    np.testing.assert_array_equal(out, 0.0)
    assert np.abs(np.asarray(jax.jit(block.apply)(variables, -x))).sum() > 0


@pytest.mark.parametrize("output_stride", [32, 8])
def test_preact_imagenet_full_size_features(output_stride):
    model = create_model("preact_resnet50", num_classes=1000, output_stride=output_stride)
    x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    variables = jax.eval_shape(model.init, KEY, x)
    assert shapes(variables) == shapes(abstract_variables("preact_resnet50"))
    logits, features = jax.eval_shape(functools.partial(model.apply, return_features=True), variables, x)
    side = 224 // output_stride
    assert logits.shape == (2, 1000)
    assert {k: v.shape for k, v in features.items()} == {
        "stem": (2, 112, 112, 64),
        "stage1": (2, 56, 56, 256),
        "stage2": (2, 28, 28, 512),
        "stage3": (2, 14, 14, 1024) if output_stride == 32 else (2, 28, 28, 1024),
        "stage4": (2, side, side, 2048),
        "pre_logits": (2, 2048),
    }


# One block per stage, width 8, 32x32 input; compile time grows with depth, so three nets, traced for the CPU
# (both lanes' CPU convs).
SHRUNK = {
    "wrn_basic_dropout_drop_path": CifarPreActResNet(
        num_classes=10,
        stage_sizes=(1, 1, 1),
        width=8,
        widen_factor=2,
        dropout_rate=0.3,
        drop_path_rate=0.2,
        platform="cpu",
    ),
    "imagenet_preact_bottleneck": PreActResNet(
        num_classes=10, stage_sizes=(1, 1, 1, 1), width=8, block="bottleneck", platform="cpu"
    ),
    "resnext_groups2_se_drop_path": ResNet(
        num_classes=10,
        stage_sizes=(1, 1, 1, 1),
        width=8,
        block="bottleneck",
        groups=2,
        width_per_group=32,
        se_reduction=16,
        drop_path_rate=0.2,
        platform="cpu",
    ),
}


@pytest.mark.xla_lane
@pytest.mark.parametrize("name", list(SHRUNK))
def test_train_forward_and_grad_shrunk(name):
    model = SHRUNK[name]
    x = jax.random.normal(jax.random.key(1, impl="rbg"), (2, 32, 32, 3))

    @jax.jit  # init and step in one program: one compile
    def run(x):
        variables = model.init(KEY, x)

        def loss(params):
            logits, state = model.apply(
                {"params": params, "batch_stats": variables["batch_stats"]},
                x,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": jax.random.key(2, impl="rbg")},
            )
            return jnp.mean(logits**2), state

        return variables, jax.value_and_grad(loss, has_aux=True)(variables["params"])

    variables, ((value, state), grads) = run(x)
    assert np.isfinite(value)
    assert jax.tree.structure(grads) == jax.tree.structure(variables["params"])
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert np.abs(np.asarray(grads["head"]["kernel"])).sum() > 0
    assert jax.tree.structure(state["batch_stats"]) == jax.tree.structure(variables["batch_stats"])


def test_drop_path_zero_is_the_plain_program_and_any_rate_is_identity_at_eval():
    base = functools.partial(ResNet, num_classes=10, stage_sizes=(1, 1, 1, 1), width=8, block="bottleneck")
    x = jax.ShapeDtypeStruct((4, 32, 32, 3), jnp.float32)
    variables = jax.eval_shape(base().init, KEY, x)
    assert shapes(jax.eval_shape(base(drop_path_rate=0.5).init, KEY, x)) == shapes(variables)

    def program(train, **fields):
        apply = functools.partial(base(**fields).apply, train=train, mutable=["batch_stats"] if train else False)
        rngs = {"dropout": jax.random.key(3, impl="rbg")} if fields else {}
        return str(jax.make_jaxpr(functools.partial(apply, rngs=rngs))(variables, x))

    assert program(False, drop_path_rate=0.5) == program(False) == program(False, drop_path_rate=0.0)
    assert program(True, drop_path_rate=0.0) == program(True)  # rate 0 draws nothing: no 'dropout' RNG needed
    assert "random_bits" not in program(True) and "random_bits" in program(True, drop_path_rate=0.5)


def test_stage_plan_dilation_and_drop_path_rates():
    calls = []

    def block(width, *, strides, dilation, drop_path_rate, name):
        calls.append((name, width, strides, dilation, round(drop_path_rate, 6)))
        return lambda x: x

    _, features = residual_stages(
        jnp.zeros((1, 4, 4, 1)), block, (2, 1, 1, 1), (1, 2, 3, 4), stem_stride=4, output_stride=8, drop_path_rate=0.4
    )
    assert list(features) == ["stage1", "stage2", "stage3", "stage4"]
    assert calls == [  # stride 2 at stage 2; stages 3 / 4 dilate 2 / 4, each first block at the previous dilation
        ("stage1_block1", 1, 1, 1, 0.0),
        ("stage1_block2", 1, 1, 1, 0.1),
        ("stage2_block1", 2, 2, 1, 0.2),
        ("stage3_block1", 3, 1, 1, 0.3),
        ("stage4_block1", 4, 1, 2, 0.4),
    ]


def test_bad_options_raise():
    x = jnp.zeros((1, 32, 32, 3))
    with pytest.raises(ValueError, match="dropout_rate needs basic blocks"):
        CifarPreActResNet(num_classes=10, block="bottleneck", dropout_rate=0.3).init(KEY, x)
    with pytest.raises(ValueError, match="stage_sizes needs 3 entries"):
        CifarPreActResNet(num_classes=10, stage_sizes=(1, 1)).init(KEY, x)
    with pytest.raises(ValueError, match="block must be one of"):
        CifarPreActResNet(num_classes=10, block="wide").init(KEY, x)
    with pytest.raises(ValueError, match="output_stride"):
        PreActResNet(num_classes=10, output_stride=4).init(KEY, x)
    with pytest.raises(ValueError, match="groups=1"):
        ResNet(num_classes=10, groups=2).init(KEY, x)

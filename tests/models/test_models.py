"""Models: parameter counts and full-size shapes by abstract evaluation; one compiled
forward + gradient per family on shrunk instances; input checks; registry."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax.layers import conv_output_size
from cnnjax.models import CifarResNet, LeNet5, SimpleCNN, create_model, list_models
from cnnjax.models.cifar_resnet import zero_pad_shortcut

# rbg keys: with jax's default partitionable threefry, compiling an init takes seconds longer.
KEY = jax.random.key(0, impl="rbg")


def images(shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


@functools.cache
def abstract_variables(name, in_channels=3, size=32, **overrides):
    model = create_model(name, num_classes=10, in_channels=in_channels, **overrides)
    return jax.eval_shape(model.init, KEY, images((2, size, size, in_channels)))


def count_params(variables):
    return sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))


# Option A, 10 classes, stage size n, params = weights + BN (scale, bias):
#   stem 3*3*3*16 + 2*16 = 464;  head 64*10 + 10 = 650
#   stage 1: 2n convs of 3*3*16*16 + 32 = 2,336
#   stage 2: 3*3*16*32 + 64 = 4,672, then 2n-1 convs of 3*3*32*32 + 64 = 9,280
#   stage 3: 3*3*32*64 + 128 = 18,560, then 2n-1 convs of 3*3*64*64 + 128 = 36,992
#   total = 97,216 n - 21,926:  n=3 269,722 (0.27M) · n=9 853,018 (0.85M) · n=18 1,727,962 (1.7M).
# Option B adds two 1x1 projections + BN: (16*32 + 64) + (32*64 + 128) = 2,752, giving 272,474,
# 855,770 and 1,730,714 (the figures sometimes quoted for option A are these option-B counts).
RESNET_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_cifar_resnet_param_counts(depth):
    assert count_params(abstract_variables(f"cifar_resnet{depth}")) == RESNET_PARAMS[depth]
    assert count_params(abstract_variables(f"cifar_resnet{depth}", shortcut="B")) == (RESNET_PARAMS[depth] + 2_752)
    assert count_params(abstract_variables(f"cifar_plain{depth}")) == RESNET_PARAMS[depth]


def test_other_param_counts():
    # LeNet-5, 1 channel: 5*5*6+6 + 5*5*6*16+16 + 400*120+120 + 120*84+84 + 84*10+10 = 61,706.
    assert count_params(abstract_variables("lenet5", in_channels=1)) == 61_706
    # SimpleCNN (32, 64, 128) x 2 convs: (864+64 + 9216+64) + (18432+128 + 36864+128)
    #   + (73728+256 + 147456+256) + 128*10+10 = 288,746.
    assert count_params(abstract_variables("simple_cnn")) == 288_746


def test_registered_depths():
    for depth in (20, 32, 44, 56, 110):
        n = (depth - 2) // 6
        for name, plain in [(f"cifar_resnet{depth}", False), (f"cifar_plain{depth}", True)]:
            model = create_model(name, num_classes=10)
            assert (model.stage_sizes, model.plain, model.shortcut) == ((n, n, n), plain, "A")


# ResNet-110 and -56 are traced at 32x32 by the parameter-count test; depth changes nothing else.
@pytest.mark.parametrize("name", ["lenet5", "simple_cnn", "cifar_resnet20", "cifar_plain20", "cifar_resnet44"])
@pytest.mark.parametrize("height,width", [(32, 32), (40, 24)])
def test_full_size_output_shapes(name, height, width):
    model = create_model(name, num_classes=7)
    x = images((3, height, width, 3))
    variables = jax.eval_shape(model.init, KEY, x)
    assert jax.eval_shape(model.apply, variables, x).shape == (3, 7)
    if "batch_stats" in variables:
        logits, updates = jax.eval_shape(
            functools.partial(model.apply, train=True, mutable=["batch_stats"]), variables, x
        )
        assert logits.shape == (3, 7)
        assert jax.tree.structure(updates["batch_stats"]) == jax.tree.structure(variables["batch_stats"])


def test_resnet_stage_shapes_and_features():
    model = create_model("cifar_resnet20", num_classes=10)
    x = images((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, KEY, x)
    _, features = jax.eval_shape(functools.partial(model.apply, return_features=True), variables, x)
    shapes = {k: v.shape for k, v in features.items()}
    assert shapes == {
        "stem": (2, 32, 32, 16),
        "stage1": (2, 32, 32, 16),
        "stage2": (2, 16, 16, 32),
        "stage3": (2, 8, 8, 64),
        "pre_logits": (2, 64),
    }


def test_resnet_3x3_convs_use_symmetric_padding():
    model = CifarResNet(num_classes=10, stage_sizes=(1, 1, 1), width=4, conv_implementation="xla")
    x = jnp.zeros((1, 8, 8, 3))
    variables = jax.eval_shape(model.init, KEY, x)
    jaxpr = jax.make_jaxpr(model.apply)(variables, x)  # every conv a top-level conv_general_dilated
    convs = [e for e in jaxpr.eqns if e.primitive.name == "conv_general_dilated"]
    strides = [e.params["window_strides"] for e in convs]
    assert len(convs) == 7 and strides.count((2, 2)) == 2
    assert all(tuple(e.params["padding"]) == ((1, 1), (1, 1)) for e in convs)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = jnp.arange(2 * 5 * 5 * 4, dtype=jnp.float32).reshape(2, 5, 5, 4)
    y = zero_pad_shortcut(x, 8, 2)
    assert y.shape == (2, 3, 3, 8)
    np.testing.assert_array_equal(y[..., 2:6], x[:, ::2, ::2])
    assert not y[..., :2].any() and not y[..., 6:].any()
    with pytest.raises(ValueError, match="cannot reduce channels"):
        zero_pad_shortcut(x, 2, 1)


# Traced for the CPU: oneDNN convs, or the XLA-based CPU paths in the CNNJAX_ONEDNN=0 lane.
SHRUNK = {
    "lenet5": (LeNet5(num_classes=10, in_channels=1, platform="cpu"), (4, 32, 32, 1)),
    "simple_cnn": (
        SimpleCNN(num_classes=10, widths=(4, 8), convs_per_stage=1, dropout_rate=0.5, platform="cpu"),
        (4, 16, 16, 3),
    ),
    "resnet_A": (CifarResNet(num_classes=10, stage_sizes=(1, 1, 1), width=4, platform="cpu"), (4, 16, 16, 3)),
    "resnet_B": (
        CifarResNet(num_classes=10, stage_sizes=(1, 1, 1), width=4, shortcut="B", platform="cpu"),
        (4, 16, 16, 3),
    ),
    "plain": (CifarResNet(num_classes=10, stage_sizes=(1, 1, 1), width=4, plain=True, platform="cpu"), (4, 16, 16, 3)),
}


@pytest.mark.xla_lane
@pytest.mark.parametrize("family", list(SHRUNK))
def test_compiled_forward_and_gradient(family):
    model, shape = SHRUNK[family]

    @jax.jit
    def run(x, labels):
        variables = model.init(KEY, x)
        params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, **state}, x, train=True, mutable=list(state), rngs={"dropout": KEY}
            )
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, updates)

        grads, (logits, updates) = jax.grad(loss_fn, has_aux=True)(params)
        return grads, logits, updates, state, model.apply(variables, x)

    x = jax.random.normal(KEY, shape)
    grads, logits, updates, state, eval_logits = run(x, jnp.arange(shape[0]) % 10)
    assert logits.shape == eval_logits.shape == (shape[0], 10)
    assert all(bool(jnp.isfinite(g).all() and jnp.any(g != 0)) for g in jax.tree.leaves(grads))
    if state:  # BatchNorm: running statistics moved, and eval mode uses them, not the batch's
        moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), updates, state)
        assert all(jax.tree.leaves(moved))
        assert not np.allclose(logits, eval_logits)
    else:
        np.testing.assert_allclose(logits, eval_logits, rtol=1e-5, atol=1e-6)


def test_batch_norm_axis_name_is_wired():
    model = create_model("cifar_resnet20", num_classes=10, bn_axis_name="data")
    x = images((2, 4, 8, 8, 3))
    variables = jax.eval_shape(model.init, KEY, images((4, 8, 8, 3)))
    apply = functools.partial(model.apply, train=True, mutable=["batch_stats"])
    logits, _ = jax.eval_shape(jax.vmap(apply, in_axes=(None, 0), axis_name="data"), variables, x)
    assert logits.shape == (2, 4, 10)
    with pytest.raises(NameError, match="data"):
        jax.eval_shape(apply, variables, images((4, 8, 8, 3)))


def test_min_input_sizes():
    # LeNet-5's real minimum: 16 -> conv 12 -> pool 6 -> conv 2 -> pool 1; 15 ends with conv 1.
    sizes = [16]
    for k, s in [(5, 1), (2, 2), (5, 1), (2, 2)]:
        sizes.append(conv_output_size(sizes[-1], k, s))
    assert sizes == [16, 12, 6, 2, 1] and LeNet5.min_input_size == 16
    assert conv_output_size(conv_output_size(conv_output_size(15, 5), 2, 2), 5) == 1
    assert SimpleCNN(num_classes=2).min_input_size == 8
    assert SimpleCNN(num_classes=2, widths=(4, 4, 4, 4)).min_input_size == 16
    assert CifarResNet.min_input_size == 1
    for name, size in [("lenet5", 16), ("simple_cnn", 8), ("cifar_resnet20", 1)]:
        model = create_model(name, num_classes=2)
        assert jax.eval_shape(model.init, KEY, images((1, size, size, 3)))
        if size > 1:
            with pytest.raises(ValueError, match=f"height and width >= {size}, got"):
                jax.eval_shape(model.init, KEY, images((1, size - 1, size, 3)))


@pytest.mark.parametrize(
    "x,match",
    [
        (
            images((32, 32, 3)),
            r"expects NHWC images of shape \(batch, height, width, 3\), got shape "
            r"\(32, 32, 3\)",
        ),
        (images((2, 3, 32, 32)), "expects 3 input channels .* with 32"),
        (images((2, 8, 32, 3)), "needs height and width >= 16, got 8x32"),
        (images((2, 32, 32, 3), jnp.uint8), "expects floating-point images, got dtype uint8"),
        (images((2, 32, 32, 3), jnp.int32), "expects floating-point images, got dtype int32"),
    ],
)
def test_input_checks_fail_before_compile(x, match):
    model = create_model("lenet5", num_classes=10)
    with pytest.raises(ValueError, match="LeNet5 " + match):
        jax.eval_shape(model.init, KEY, x)
    with pytest.raises(ValueError, match=match):  # at trace time, inside jit as well
        jax.jit(model.init)(KEY, jnp.zeros(x.shape, x.dtype))


def test_list_models():
    assert list_models("cifar_resnet*") == [
        "cifar_resnet110",
        "cifar_resnet20",
        "cifar_resnet32",
        "cifar_resnet44",
        "cifar_resnet56",
    ]
    assert list_models("cifar_plain?0") == ["cifar_plain20"]
    assert {"lenet5", "simple_cnn"} <= set(list_models())
    assert list_models() == sorted(list_models()) and list_models("nope*") == []


def test_create_model_errors():
    with pytest.raises(ValueError, match="unknown model 'cifar_resnet21'; did you mean 'cifar_"):
        create_model("cifar_resnet21", num_classes=10)
    with pytest.raises(ValueError, match="no option 'widht'; did you mean 'width'"):
        create_model("cifar_resnet20", num_classes=10, widht=8)


def test_create_model_overrides_reach_constructor():
    model = create_model(
        "cifar_plain56", num_classes=5, in_channels=1, width=8, stage_sizes=(2, 1, 1), bn_axis_name="data"
    )
    assert isinstance(model, CifarResNet) and model.plain
    assert (model.num_classes, model.in_channels, model.width, model.stage_sizes, model.bn_axis_name) == (
        5,
        1,
        8,
        (2, 1, 1),
        "data",
    )


def test_bfloat16_from_string():
    model = create_model("cifar_resnet20", num_classes=10, dtype="bfloat16")
    assert model.dtype == jnp.bfloat16
    x = images((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, KEY, x)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    assert jax.eval_shape(model.apply, variables, x).dtype == jnp.bfloat16
    model = create_model("simple_cnn", num_classes=10, dtype="bfloat16", param_dtype="bfloat16")
    variables = jax.eval_shape(model.init, KEY, x)
    assert jax.tree.leaves(variables["params"])[0].dtype == jnp.bfloat16


def test_lenet_params_applied_at_another_size_name_both_sizes():
    model = create_model("lenet5", num_classes=10, in_channels=1)
    variables = jax.eval_shape(model.init, KEY, images((1, 32, 32, 1)))
    with pytest.raises(
        ValueError, match="LeNet5: .*initialised for inputs whose S4 map has 400 values; these images give a 4x4x16"
    ):
        jax.eval_shape(model.apply, variables, images((1, 28, 28, 1)))


@pytest.mark.parametrize("name", ["lenet5", "simple_cnn", "cifar_resnet20"])
def test_return_features_is_opt_in_and_leaves_logits_unchanged(name):
    model = create_model(name, num_classes=10)
    x = images((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, KEY, x)
    logits = jax.eval_shape(model.apply, variables, x)
    logits_too, features = jax.eval_shape(functools.partial(model.apply, return_features=True), variables, x)
    assert logits.shape == logits_too.shape == (2, 10)
    assert features and all(f.shape[0] == 2 for f in features.values())


def test_simple_cnn_downsampling_and_batch_norm_options():
    """max_pool and strided reach the same resolution at every stage with the same parameters; 'none' keeps
    the input's; without BatchNorm each conv trades the norm's scale and offset (2 x channels) for a bias
    (channels), and there are no batch statistics."""
    shapes = {}
    for downsample in ("max_pool", "strided", "none"):
        model = create_model("simple_cnn", num_classes=10, widths=(8, 16), downsample=downsample)
        variables = jax.eval_shape(model.init, KEY, images((2, 32, 32, 3)))
        _, features = jax.eval_shape(
            functools.partial(model.apply, return_features=True), variables, images((2, 32, 32, 3))
        )
        shapes[downsample] = ([features[f"stage{i}"].shape[1] for i in (1, 2)], count_params(variables))
    assert shapes["strided"][0] == [32, 16] and shapes["max_pool"][0] == [16, 8] and shapes["none"][0] == [32, 32]
    assert shapes["strided"][1] == shapes["max_pool"][1] == shapes["none"][1]
    assert SimpleCNN(num_classes=2, widths=(4, 4), downsample="strided").min_input_size == 2
    assert SimpleCNN(num_classes=2, widths=(4, 4), downsample="none").min_input_size == 1
    without = abstract_variables("simple_cnn", batch_norm=False)
    assert "batch_stats" not in without and count_params(without) == 288_746 - (32 + 32 + 64 + 64 + 128 + 128)
    with pytest.raises(ValueError, match="downsample must be one of"):
        jax.eval_shape(create_model("simple_cnn", num_classes=2, downsample="avg").init, KEY, images((1, 8, 8, 3)))


def test_simple_cnn_separable_option():
    """Every conv but the first becomes depthwise 3x3 (9 C_in + BN 2 C_in) then pointwise 1x1 (C_in C_out + BN
    2 C_out): widths (32, 64, 128) x 2 convs."""
    convs = [(32, 32), (32, 64), (64, 64), (64, 128), (128, 128)]  # (C_in, C_out) after the first conv
    separable = sum(9 * c_in + 2 * c_in + c_in * c_out + 2 * c_out for c_in, c_out in convs)
    first_and_head = 864 + 64 + 128 * 10 + 10
    assert count_params(abstract_variables("simple_cnn", separable=True)) == first_and_head + separable


def test_cifar_resnet_depth_option():
    for depth in (20, 56):
        assert count_params(abstract_variables("cifar_plain20", depth=depth)) == RESNET_PARAMS[depth]
    with pytest.raises(ValueError, match="depth must be 6n\\+2"):
        abstract_variables("cifar_resnet20", depth=21)

"""`cnnjax.inspect.summary`: rows of hand-built stacks and of registry models equal hand arithmetic; totals are
cross-checked against `jax.eval_shape` parameter counts, an independent tap count, XLA's cost analysis and
compiled memory analyses. Everything is traced (`jax.make_jaxpr`); one test compiles a small model."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from jax import lax

from cnnjax.benchmark.model_flops import forward_flops
from cnnjax.inspect import summary
from cnnjax.layers import Conv, ConvTranspose
from cnnjax.layers.local_response_norm import local_response_norm
from cnnjax.models import create_model

FLOAT = 4  # bytes


def rows_by_path(result) -> dict:
    return {row.path: row for row in result.rows}


def param_count(model, input_shape, **kwargs) -> int:
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *input_shape)), **kwargs))
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))


class Stack(nn.Module):
    """3x3, 3x3, 3x3 stride 2, 3x3 dilation 2, 2x2 max pool, global mean, dense."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3), name="a")(x))
        x = nn.relu(nn.Conv(8, (3, 3), name="b")(x))
        x = nn.relu(nn.Conv(16, (3, 3), strides=2, padding=1, name="down")(x))
        x = nn.relu(nn.Conv(16, (3, 3), kernel_dilation=2, padding=2, name="dilated")(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(10, name="head")(jnp.mean(x, axis=(1, 2)))


def test_receptive_fields_and_jumps_of_a_hand_built_stack_follow_the_arithmetic():
    rows = rows_by_path(summary(Stack(), (16, 16, 3)))
    assert list(rows) == ["a", "b", "down", "dilated", "max_pool", "global_avg_pool", "head"]
    # rf_out = rf_in + (d (k - 1)) * jump_in, jump_out = jump_in * stride
    assert rows["a"].receptive_field == (3, 3) and rows["a"].jump == (1, 1)
    assert rows["b"].receptive_field == (5, 5)  # two 3x3 convs see 5x5
    assert rows["down"].receptive_field == (7, 7) and rows["down"].jump == (2, 2)
    assert rows["dilated"].receptive_field == (7 + 2 * 2 * 2,) * 2 and rows["dilated"].jump == (2, 2)
    assert rows["max_pool"].receptive_field == (15 + 1 * 2,) * 2 and rows["max_pool"].jump == (4, 4)
    # the global mean is one window over the 4x4 map: rf + 3 * jump, and no spatial axis is left
    assert rows["global_avg_pool"].receptive_field == (17 + 3 * 4,) * 2 and rows["global_avg_pool"].jump == (None, None)
    down, pool = rows["down"], rows["max_pool"]
    assert (down.kind, down.kernel, down.stride, down.padding, down.groups) == (
        "conv",
        (3, 3),
        (2, 2),
        ((1, 1),) * 2,
        1,
    )
    assert rows["dilated"].dilation == (2, 2)
    assert (pool.kind, pool.kernel, pool.stride, pool.output_shape) == ("max_pool", (2, 2), (2, 2), (1, 4, 4, 16))
    assert rows["global_avg_pool"].output_shape == (1, 16) and rows["head"].kind == "dense"


def test_macs_count_every_tap_and_xla_counts_only_those_inside_the_image():
    result = summary(Stack(), (16, 16, 3))
    rows = rows_by_path(result)
    # out_h * out_w * C_out * k_h * k_w * C_in / groups
    assert rows["a"].macs == 16 * 16 * 8 * 9 * 3
    assert rows["down"].macs == 8 * 8 * 16 * 9 * 8
    assert rows["dilated"].macs == 8 * 8 * 16 * 9 * 16
    assert rows["head"].macs == 16 * 10 and rows["max_pool"].macs == 0

    class BiasFree(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(16, (3, 3), use_bias=False)(nn.Conv(16, (3, 3), use_bias=False)(x))

    for size, fewer in ((32, 0.05), (8, 0.16)):
        macs = summary(BiasFree(), (size, size, 16)).totals.macs
        assert macs == 2 * size * size * 16 * 9 * 16
        # an independent count of the taps that fall inside the image: a conv of ones with ones
        ones = jnp.ones((1, size, size, 1))
        taps = lax.conv_general_dilated(
            ones, jnp.ones((3, 3, 1, 1)), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        valid = 2 * int(taps.sum()) * 16 * 16
        variables = jax.eval_shape(lambda s=size: BiasFree().init(jax.random.key(0), jnp.zeros((1, s, s, 16))))
        x = jax.ShapeDtypeStruct((1, size, size, 16), jnp.float32)
        assert jax.jit(BiasFree().apply).lower(variables, x).cost_analysis()["flops"] / 2 == valid
        assert 1 - valid / macs == pytest.approx(fewer, abs=0.01)


def test_a_cnnjax_conv_and_a_flax_conv_give_the_same_rows_whatever_the_conv_target():
    class Flax(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(64, (3, 3), name="conv")(x)

    class Cnnjax(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Conv(64, 3, name="conv")(x)

    (flax_row,) = summary(Flax(), (32, 32, 16)).rows
    (cnnjax_row,) = summary(Cnnjax(), (32, 32, 16)).rows
    assert flax_row == cnnjax_row and flax_row.macs == 32 * 32 * 64 * 9 * 16 and flax_row.params == 9 * 16 * 64 + 64
    on_cpu = summary(create_model("lenet5", num_classes=10, in_channels=1, platform="cpu"), (32, 32, 1), train=False)
    portable = summary(create_model("lenet5", num_classes=10, in_channels=1), (32, 32, 1), train=False)
    assert on_cpu.rows == portable.rows


def test_a_transposed_conv_halves_the_jump_and_counts_every_input_pixel_times_the_kernel():
    class Up(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(8, (3, 3), name="conv")(x)
            return ConvTranspose(4, 4, strides=2, padding=1, name="up")(x)

    up = rows_by_path(summary(Up(), (8, 8, 3)))["up"]
    assert (up.kind, up.kernel, up.stride, up.padding, up.output_shape) == (
        "conv_transpose",
        (4, 4),
        (2, 2),
        ((1, 1),) * 2,
        (1, 16, 16, 4),
    )
    assert up.macs == 8 * 8 * 8 * 16 * 4  # in_h * in_w * C_in * k_h * k_w * C_out
    # each output pixel of a 4x4 stride-2 transposed conv sees 2 neighbouring inputs: rf 3 + 1 * 1
    assert up.receptive_field == (4, 4) and up.jump == (0.5, 0.5)


def test_residual_adds_and_concatenations_take_the_largest_receptive_field():
    class Residual(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(8, (1, 1), name="stem")(x)
            y = nn.Conv(8, (3, 3), name="c1")(x)
            y = nn.Conv(8, (3, 3), name="c2")(y)
            z = jnp.concatenate([x + y, x], axis=-1)
            return nn.Conv(4, (1, 1), name="out")(z)

    rows = rows_by_path(summary(Residual(), (8, 8, 3)))
    assert rows["c2"].receptive_field == (5, 5) and rows["out"].receptive_field == (5, 5)


def test_normalisations_are_rows_with_their_parameters_and_do_not_widen_the_receptive_field():
    class Norms(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            x = nn.Conv(8, (3, 3), name="conv")(x)
            x = nn.BatchNorm(use_running_average=not train, name="bn")(x)
            x = nn.GroupNorm(num_groups=4, name="gn")(x)
            x = local_response_norm(nn.relu(x))
            x = jnp.mean(x, axis=(1, 2))
            return nn.LayerNorm(name="ln")(x)

    for train in (False, True):
        result = summary(Norms(), (8, 8, 3), train=train)
        rows = rows_by_path(result)
        assert [row.kind for row in result.rows] == ["conv", "norm", "norm", "norm", "global_avg_pool", "norm"]
        assert rows["bn"].params == rows["gn"].params == 16 and rows["ln"].params == 16 and rows["norm"].params == 0
        assert rows["bn"].output_shape == rows["gn"].output_shape == (1, 8, 8, 8) and rows["ln"].output_shape == (1, 8)
        assert rows["gn"].receptive_field == rows["norm"].receptive_field == (3, 3), train
        assert rows["ln"].receptive_field == (3 + 7,) * 2


def test_rows_hold_every_parameter_shared_modules_and_loose_parameters_included():
    class Shared(nn.Module):
        @nn.compact
        def __call__(self, x):
            conv = nn.Conv(3, (3, 3), name="shared")
            y = conv(conv(x))
            return y * self.param("gamma", nn.initializers.ones, (3,))

    result = summary(Shared(), (8, 8, 3))
    assert [(row.path, row.kind, row.params) for row in result.rows] == [
        ("shared", "conv", 84),  # the module's parameters, at its first call
        ("shared/conv", "conv", 0),  # its second call
        ("(root)", "other", 3),  # gamma, no layer's
    ]
    assert result.rows[1].receptive_field == (5, 5)
    assert sum(row.params for row in result.rows) == result.totals.params == param_count(Shared(), (8, 8, 3)) == 87


LENET = [  # path, kind, output shape, params, MACs, receptive field, jump (32x32x1 input, 10 classes)
    ("c1", "conv", (1, 28, 28, 6), 5 * 5 * 6 + 6, 28 * 28 * 6 * 25, 5, 1),
    ("avg_pool_0", "avg_pool", (1, 14, 14, 6), 0, 0, 5 + 1, 2),
    ("c3", "conv", (1, 10, 10, 16), 25 * 6 * 16 + 16, 10 * 10 * 16 * 25 * 6, 6 + 4 * 2, 2),
    ("avg_pool_1", "avg_pool", (1, 5, 5, 16), 0, 0, 14 + 1 * 2, 4),
    ("flatten", "flatten", (1, 400), 0, 0, 16 + 4 * 4, None),  # the dense layers see the whole 32x32 image
    ("f5", "dense", (1, 120), 400 * 120 + 120, 400 * 120, 32, None),
    ("f6", "dense", (1, 84), 120 * 84 + 84, 120 * 84, 32, None),
    ("output", "dense", (1, 10), 84 * 10 + 10, 84 * 10, 32, None),
]


def test_lenet5_rows_equal_hand_arithmetic():
    model = create_model("lenet5", num_classes=10, in_channels=1)
    result = summary(model, (32, 32, 1), train=False, train_kwargs={"train": True})
    got = [(r.path, r.kind, r.output_shape, r.params, r.macs, r.receptive_field[0], r.jump[0]) for r in result.rows]
    assert got == LENET
    assert all(r.activation_bytes == math.prod(r.output_shape) * FLOAT for r in result.rows)
    assert result.totals.params == 61_706 == param_count(model, (32, 32, 1), train=False)
    assert result.totals.macs == sum(row[4] for row in LENET)


def test_cifar_resnet20_totals_match_an_independent_count_and_xla_cost_analysis():
    model = create_model("cifar_resnet20", num_classes=10)
    result = summary(model, (32, 32, 3), train=False, train_kwargs={"train": True})
    assert sum(row.params for row in result.rows) == result.totals.params == param_count(model, (32, 32, 3))
    # 3x3 kernels (no biases) of the stem and the three stages, two BatchNorm vectors per conv, the head
    kernels = 3 * 16 * 9 + 6 * 16 * 16 * 9 + (16 * 32 + 5 * 32 * 32) * 9 + (32 * 64 + 5 * 64 * 64) * 9
    assert result.totals.params == kernels + 2 * (7 * 16 + 6 * 32 + 6 * 64) + 64 * 10 + 10 == 269_722  # 0.27 M
    # 3x3 convs, all taps: the stem; 6 at 32x32x16; at 16x16x32 one from 16 channels and 5; at 8x8x64 likewise
    conv = 32 * 32 * 16 * 9 * 3 + 6 * 32 * 32 * 16 * 9 * 16
    conv += 16 * 16 * 32 * 9 * (16 + 5 * 32) + 8 * 8 * 64 * 9 * (32 + 5 * 64)
    assert result.totals.macs == conv + 64 * 10
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
    xla_macs = forward_flops(model, variables, jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)) / 2
    assert 0.8 < result.totals.macs / xla_macs < 1.2  # XLA skips padded taps, counts BatchNorm and ReLU
    assert result.rows[-2].kind == "global_avg_pool" and result.rows[-2].output_shape == (1, 64)


def test_full_size_torchvision_models_have_their_reference_parameters_and_macs():
    resnet50 = summary(create_model("resnet50", num_classes=1000), (224, 224, 3), train=False)
    assert resnet50.totals.params == 25_557_032
    assert resnet50.totals.macs / 1e9 == pytest.approx(4.09, abs=0.01)  # torchvision / fvcore: 4.09 G
    assert [row.receptive_field[0] for row in resnet50.rows if row.kind == "conv"][-1] == 427  # the last conv
    resnet18 = summary(create_model("resnet18", num_classes=1000), (224, 224, 3), train=False)
    assert resnet18.totals.params == 11_689_512 and resnet18.totals.macs / 1e9 == pytest.approx(1.81, abs=0.01)


class Chain(nn.Module):
    """conv 3->8, relu, conv 8->8, relu, conv 8->4 (all 3x3, same padding), optionally with a residual."""

    residual: bool = False

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3))(x))
        y = nn.relu(nn.Conv(8, (3, 3))(x))
        return nn.Conv(8 if self.residual else 4, (3, 3))(y) + (x if self.residual else 0)


def test_inference_peak_is_a_layers_input_and_output_plus_what_a_residual_holds():
    image, wide = 16 * 16 * 3 * FLOAT, 16 * 16 * 8 * FLOAT
    # conv1: image + its output; bias + ReLU run in place; conv2: its input and output
    assert summary(Chain(), (16, 16, 3)).totals.inference_peak_bytes == max(image + wide, 2 * wide)
    # the residual keeps x alive across conv2 and conv3: x, conv2's output, and conv3's output
    assert summary(Chain(residual=True), (16, 16, 3)).totals.inference_peak_bytes == 3 * wide


def test_activation_peaks_are_near_what_xla_allocates():
    class Small(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            for i, features in enumerate((16, 32)):
                x = nn.Conv(features, (3, 3), strides=1 + i, use_bias=False)(x)
                x = nn.relu(nn.BatchNorm(use_running_average=not train)(x))
            return nn.Dense(10)(jnp.mean(x, axis=(1, 2)))

    model, batch = Small(), 8
    totals = summary(model, (32, 32, 3), batch=batch, train=False, train_kwargs={"train": True}).totals
    x = jnp.zeros((batch, 32, 32, 3))
    variables = model.init(jax.random.key(0), x, train=False)

    def loss(params):
        logits, _ = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
        return logits.sum()

    trained = jax.jit(jax.grad(loss)).lower(variables["params"]).compile().memory_analysis()
    assert 0.5 < totals.training_peak_bytes / trained.temp_size_in_bytes < 1.5
    inferred = jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(variables, x).compile().memory_analysis()
    assert 0.67 < totals.inference_peak_bytes / (inferred.temp_size_in_bytes + x.nbytes) < 1.5
    assert totals.training_peak_bytes > 2 * totals.inference_peak_bytes


def test_bfloat16_activations_take_two_bytes():
    model = create_model("lenet5", num_classes=10, in_channels=1, dtype="bfloat16")
    row = summary(model, (32, 32, 1), batch=4, train=False).rows[0]
    assert row.dtype == "bfloat16" and row.activation_bytes == 4 * 28 * 28 * 6 * 2 and row.macs == 4 * 117_600

"""Classic ImageNet models (VGG, AlexNet, MobileNetV2): parameter counts equal torchvision's and
full-size shapes by abstract evaluation; one compiled train-mode forward + gradient per family on
shrunk instances; adaptive average pooling against PyTorch's bin rule."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from abstract_models import KEY, abstract_variables, count_params
from one_step import shrunk_cpu_model

from cnnjax.layers import adaptive_avg_pool, make_divisible
from cnnjax.models.registry import create_model

# torchvision.models.<name>(num_classes=1000): sum(p.numel() for p in model.parameters()).
TORCHVISION_PARAMS = {
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg16_bn": 138_365_992,
    "alexnet": 61_100_840,
    "mobilenet_v2": 3_504_872,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_param_count_matches_torchvision(name):
    params = abstract_variables(name)["params"]
    assert count_params(params) == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name", ["vgg13_bn", "vgg19_bn"])
def test_bn_variants_add_two_params_per_conv_channel(name):
    plain = abstract_variables(name.removesuffix("_bn"))["params"]
    bn = abstract_variables(name)["params"]
    channels = sum(v["bias"].size for k, v in plain.items() if "_conv" in k)
    n = lambda p: sum(leaf.size for leaf in jax.tree.leaves(p))  # noqa: E731
    assert n(bn) - n(plain) == 2 * channels


@pytest.mark.parametrize("name", ["vgg11", "vgg16_bn", "alexnet", "mobilenet_v2"])
def test_full_size_forward_shape(name):
    model = create_model(name, num_classes=1000)
    variables = abstract_variables(name)
    out = jax.eval_shape(lambda v, x: model.apply(v, x), variables, jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32))
    assert out.shape == (2, 1000) and out.dtype == jnp.float32


def test_features_at_full_size():
    model = create_model("vgg16", num_classes=1000)
    x = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    _, features = jax.eval_shape(
        lambda v, x: model.apply(v, x, return_features=True), abstract_variables("vgg16", size=224), x
    )
    shapes = {k: v.shape for k, v in features.items()}
    assert shapes["stage1"] == (1, 112, 112, 64) and shapes["stage5"] == (1, 7, 7, 512)
    assert shapes["pre_logits"] == (1, 4096)

    model = create_model("mobilenet_v2", num_classes=1000)
    _, features = jax.eval_shape(
        lambda v, x: model.apply(v, x, return_features=True), abstract_variables("mobilenet_v2"), x
    )
    shapes = {k: v.shape for k, v in features.items()}
    assert shapes["stem"] == (1, 112, 112, 32) and shapes["stage7"] == (1, 7, 7, 320)
    assert shapes["pre_logits"] == (1, 1280)


def test_make_divisible_matches_torchvision():
    assert [make_divisible(c * 0.25) for c in (32, 16, 24, 96, 160, 320)] == [8, 8, 8, 24, 40, 80]
    assert make_divisible(1280 * 1.4) == 1792 and make_divisible(32 * 0.5) == 16


def test_adaptive_avg_pool_matches_pytorch_bins():
    x = jnp.arange(2 * 5 * 3 * 1, dtype=jnp.float32).reshape(2, 5, 3, 1)
    out = np.asarray(adaptive_avg_pool(x, (3, 7)))
    xs = np.asarray(x)
    expected = np.empty((2, 3, 7, 1), np.float32)
    for i in range(3):
        h0, h1 = (i * 5) // 3, -((-(i + 1) * 5) // 3)
        for j in range(7):
            w0, w1 = (j * 3) // 7, -((-(j + 1) * 3) // 7)
            expected[:, i, j] = xs[:, h0:h1, w0:w1].mean(axis=(1, 2))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert adaptive_avg_pool(x[:, :1, :1], 7).shape == (2, 7, 7, 1)
    np.testing.assert_allclose(adaptive_avg_pool(jnp.ones((1, 14, 14, 2)), 7), jnp.ones((1, 7, 7, 2)))


SHRUNK = {
    "vgg11_bn": (dict(cfg=(8, "M", 16, "M", 16, "M", 16, "M", 16, "M"), pool_size=2, hidden_features=16), 32),
    "vgg11": (dict(cfg=(8, "M", 16, 16, "M"), pool_size=3, hidden_features=16), 32),
    "alexnet": (dict(widths=(8, 8, 8, 8, 8), pool_size=2, hidden_features=16), 63),
    # width 0.25 with a shortened table: still an unexpanded block, a residual and stride 2.
    "mobilenet_v2": (dict(width_multiplier=0.25, inverted_residual_setting=((1, 16, 1, 1), (6, 24, 2, 2))), 32),
}


@pytest.mark.xla_lane
@pytest.mark.parametrize("name", sorted(SHRUNK))
def test_shrunk_train_step_compiles_and_has_gradients(name):
    overrides, size = SHRUNK[name]
    model, x, labels, params, state = shrunk_cpu_model(name, size, **overrides)

    @jax.jit
    def loss_and_grad(params, state, x, rng):
        def loss_fn(params):
            logits, new_state = model.apply(
                {"params": params, **state}, x, train=True, rngs={"dropout": rng}, mutable=list(state)
            )
            onehot = jax.nn.one_hot(labels, 5)
            return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), -1)), (logits, new_state)

        return jax.value_and_grad(loss_fn, has_aux=True)(params)

    (loss, (logits, new_state)), grads = loss_and_grad(params, state, x, jax.random.key(2, impl="rbg"))
    assert logits.shape == (2, 5) and np.isfinite(float(loss))
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    assert any(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads))
    assert ("batch_stats" in new_state) == (name != "vgg11" and name != "alexnet")


def test_input_checks():
    with pytest.raises(ValueError, match="height and width >= 63"):
        jax.eval_shape(
            create_model("alexnet", num_classes=10).init, KEY, jax.ShapeDtypeStruct((1, 62, 62, 3), jnp.float32)
        )
    with pytest.raises(ValueError, match="height and width >= 32"):
        jax.eval_shape(
            create_model("vgg11", num_classes=10).init, KEY, jax.ShapeDtypeStruct((1, 31, 31, 3), jnp.float32)
        )

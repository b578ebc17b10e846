"""DenseNet, GoogLeNet, EfficientNet and the paper's AlexNet: parameter counts (torchvision's, or
derived by formula) and full-size features by abstract evaluation; GoogLeNet's auxiliary heads;
one compiled train-mode forward + gradient per family on shrunk instances."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from abstract_models import KEY, abstract_variables, count_params
from one_step import shrunk_cpu_model, train_one_step

from cnnjax.models.inception import INCEPTION_STAGES
from cnnjax.models.registry import create_model
from cnnjax.tasks import Classification
from cnnjax.tasks.losses import cross_entropy, googlenet_loss
from cnnjax.train.state import create_train_state

# torchvision.models.<name>(num_classes=1000): sum(p.numel() for p in model.parameters()).
TORCHVISION_PARAMS = {
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "googlenet": 6_624_904,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
}


def count(name, size=224, **overrides):
    return count_params(abstract_variables(name, size, **overrides)["params"])


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_param_count_matches_torchvision(name):
    assert count(name) == TORCHVISION_PARAMS[name]


def test_googlenet_aux_heads_param_count():
    # torchvision.models.googlenet(aux_logits=True, init_weights=True).
    assert count("googlenet", aux_logits=True) == 13_004_888


def test_googlenet_paper_param_count():
    # From torchvision's: each conv unit trades BatchNorm's 2 parameters per channel for a bias
    # (-1 per channel), and the third branch's 3x3 convs become 5x5 (+16 * reduce * out each).
    # Aux heads: 1x1 conv (C*128 + 128) + Dense 2048*1024 + 1024 + Dense 1024*1000 + 1000.
    rows = [row for stage in INCEPTION_STAGES for row in stage]
    conv_channels = 64 + 64 + 192 + sum(r[0] + r[1] + r[2] + r[3] + r[4] + r[5] for r in rows)
    five = sum(16 * r[3] * r[4] for r in rows)
    expected = TORCHVISION_PARAMS["googlenet"] - conv_channels + five
    assert count("googlenet_paper") == expected == 6_998_552
    aux = sum(c * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for c in (512, 528))
    assert count("googlenet_paper", aux_logits=True) == expected + aux


def test_alexnet_paper_param_count():
    convs = [(11, 3, 96), (5, 48, 256), (3, 256, 384), (3, 192, 384), (3, 192, 256)]  # (kernel, in per tower, out)
    dense = [(6 * 6 * 256, 4096), (4096, 4096), (4096, 1000)]
    expected = sum(k * k * c_in * c_out + c_out for k, c_in, c_out in convs) + sum(i * o + o for i, o in dense)
    assert count("alexnet_paper", size=227) == expected == 60_965_224


def feature_shapes(name, size=224, train=False, **overrides):
    model = create_model(name, num_classes=1000, **overrides)
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    apply = functools.partial(model.apply, train=train, return_features=True, rngs={"dropout": KEY})
    if train:
        apply = functools.partial(apply, mutable=["batch_stats"])
    out = jax.eval_shape(apply, abstract_variables(name, size, **overrides), x)
    (logits, features) = out[0] if train else out
    assert logits.shape == (1, 1000)
    return {k: v.shape for k, v in features.items()}


def test_features_at_full_size():
    assert feature_shapes("densenet121") == {
        "stem": (1, 56, 56, 64),
        "stage1": (1, 56, 56, 256),
        "stage2": (1, 28, 28, 512),
        "stage3": (1, 14, 14, 1024),
        "stage4": (1, 7, 7, 1024),
        "pre_logits": (1, 1024),
    }
    assert feature_shapes("googlenet") == {
        "stem": (1, 28, 28, 192),
        "stage3": (1, 28, 28, 480),
        "stage4": (1, 14, 14, 832),
        "stage5": (1, 7, 7, 1024),
        "pre_logits": (1, 1024),
    }
    shapes = feature_shapes("efficientnet_b0")
    assert shapes["stem"] == (1, 112, 112, 32) and shapes["stage1"] == (1, 112, 112, 16)
    assert shapes["stage6"] == (1, 7, 7, 192) and shapes["stage7"] == (1, 7, 7, 320)
    assert shapes["pre_logits"] == (1, 1280)
    assert feature_shapes("alexnet_paper", size=227) == {
        "stem": (1, 27, 27, 96),
        "stage2": (1, 13, 13, 256),
        "stage3": (1, 6, 6, 256),
        "pre_logits": (1, 4096),
    }


@pytest.mark.parametrize("name", ["googlenet", "googlenet_paper"])
def test_googlenet_aux_logits_in_train_mode_only(name):
    train = feature_shapes(name, train=True, aux_logits=True)
    assert train["aux1"] == train["aux2"] == (1, 1000)
    assert "aux1" not in feature_shapes(name, aux_logits=True)


def test_googlenet_paper_aux_heads_need_79_pixels():
    model = create_model("googlenet_paper", num_classes=10, aux_logits=True)
    with pytest.raises(ValueError, match="inputs >= 79"):
        jax.eval_shape(model.init, KEY, jax.ShapeDtypeStruct((1, 78, 78, 3), jnp.float32))


def test_googlenet_loss_weights_aux_heads():
    logits, aux1, aux2 = jax.random.normal(jax.random.key(3), (3, 4, 6))
    labels = jnp.array([0, 5, 2, 1])
    ce = lambda z: cross_entropy(z, labels).mean()  # noqa: E731
    np.testing.assert_allclose(googlenet_loss(logits, {"stem": aux1}, labels), ce(logits), rtol=1e-6)
    combined = googlenet_loss(logits, {"aux1": aux1, "aux2": aux2, "pre_logits": aux1}, labels)
    np.testing.assert_allclose(combined, ce(logits) + 0.3 * (ce(aux1) + ce(aux2)), rtol=1e-6)


# Shrunk instances: compile time grows with depth, so each keeps only what its family adds.
_ROW = (4, 4, 8, 4, 8, 4)
SHRUNK = {
    # Two dense blocks (one of two layers: concatenation) and a transition; dropout on.
    "densenet121": (dict(block_config=(2, 1), growth_rate=4, num_init_features=8, drop_rate=0.1), 32),
    # Two inception modules, an auxiliary head after each.
    "googlenet": (
        dict(stem_widths=(8, 8, 8), stages=((_ROW,), (_ROW,)), aux_logits=True, aux_after=("3a", "4a")),
        32,
    ),
    # Width 0.25, a shortened table: an unexpanded block, a residual block with drop-path, stride 2.
    "efficientnet_b0": (dict(width_mult=0.25, setting=((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2))), 32),
    "alexnet_paper": (dict(widths=(8, 8, 8, 8, 8), hidden_features=16), 67),
}


@functools.cache
def train_step(name, **extra):
    """Compiled loss + gradient of a shrunk model in train mode; returns loss, features, grads, params."""
    overrides, size = SHRUNK[name]
    model, x, labels, params, state = shrunk_cpu_model(name, size, **{**overrides, **extra})

    @jax.jit
    def loss_and_grad(params, state, x, rng):
        def loss_fn(params):
            (logits, features), new_state = model.apply(
                {"params": params, **state},
                x,
                train=True,
                return_features=True,
                rngs={"dropout": rng},
                mutable=list(state),
            )
            return googlenet_loss(logits, features, labels), (logits, features, new_state)

        return jax.value_and_grad(loss_fn, has_aux=True)(params)

    (loss, (logits, features, new_state)), grads = loss_and_grad(params, state, x, jax.random.key(2, impl="rbg"))
    assert logits.shape == (2, 5) and np.isfinite(float(loss))
    return loss, features, new_state, grads, params


@pytest.mark.xla_lane
@pytest.mark.parametrize("name", sorted(SHRUNK))
def test_shrunk_train_step_compiles_and_has_gradients(name):
    loss, features, new_state, grads, params = train_step(name)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads["head"]))
    assert ("batch_stats" in new_state) == (name != "alexnet_paper")
    if name == "googlenet":
        assert features["aux1"].shape == features["aux2"].shape == (2, 5)
        assert float(jnp.abs(grads["aux2"]["fc2"]["kernel"]).sum()) > 0


def test_densenet_memory_efficient_gives_same_loss_and_gradients():
    loss, _, _, grads, params = train_step("densenet121")
    loss_remat, _, _, grads_remat, params_remat = train_step("densenet121", memory_efficient=True)
    assert jax.tree.structure(params_remat) == jax.tree.structure(params)
    np.testing.assert_allclose(loss_remat, loss, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), grads_remat, grads)


def _engine_step(model, aux_weight: float, size: int):
    """One engine train step (plain SGD: no weight decay) of `model`; returns (old state, new state, metrics)."""
    tx, schedule = optax.sgd(0.1), optax.constant_schedule(0.1)
    state = create_train_state(model, tx, (size, size, 3), seed=0)
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(2, size, size, 3)).astype(np.float32), "label": np.array([0, 3], np.int32)}
    new, metrics = train_one_step(model, tx, schedule, Classification(aux_weight=aux_weight), state, batch)
    return state, new, metrics


def test_engine_trains_googlenet_aux_heads_with_loss_aux_weight():
    overrides, size = SHRUNK["googlenet"]
    model = create_model("googlenet", num_classes=5, **overrides)
    start, plain, plain_metrics = _engine_step(model, 0.0, size)
    _, with_aux, aux_metrics = _engine_step(model, 0.3, size)
    aux_heads = [name for name in start.params if name.startswith("aux")]
    assert len(aux_heads) == 2
    for name in aux_heads:
        unchanged = jax.tree.map(np.array_equal, start.params[name], plain.params[name])
        assert all(jax.tree.leaves(unchanged)), f"{name} trained without loss.aux_weight"
        changed = jax.tree.map(np.array_equal, start.params[name], with_aux.params[name])
        assert not all(jax.tree.leaves(changed)), f"{name} not trained with loss.aux_weight=0.3"
    assert float(aux_metrics["loss"]) > float(plain_metrics["loss"]) > 0  # + 0.3 x two positive cross-entropies


def test_loss_aux_weight_without_auxiliary_heads_is_a_clear_error():
    overrides, size = SHRUNK["googlenet"]
    model = create_model("googlenet", num_classes=5, **{**overrides, "aux_logits": False})
    with pytest.raises(ValueError, match="no auxiliary heads.*aux_logits=True"):
        _engine_step(model, 0.3, size)

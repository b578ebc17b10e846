"""Segmentation models (FCN, U-Net, DeepLabV3): full-size shapes at odd input sizes and parameter
counts by abstract evaluation; compiled forward passes at three input sizes from one set of
parameters and a train-mode gradient step on shrunk instances; backbones laid out as classifiers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers.transposed_conv import ConvTranspose
from cnnjax.layers.upsampling import resize_bilinear
from cnnjax.models import create_model, list_models
from cnnjax.models.fcn import bilinear_kernel_init

KEY = jax.random.key(0, impl="rbg")

# 21 classes (Pascal VOC) for FCN / DeepLab, 2 for U-Net.  torchvision's fcn_resnet50 and
# deeplabv3_resnet50 document 35,322,218 and 42,004,074 parameters with their auxiliary FCN head
# (3x3 conv 1024->256 no bias, BN, 1x1 conv 256->21: 2,365,205), which these models omit.
PARAMS = {
    "fcn32s_resnet18": 11_187_285,  # resnet18 minus its fc (11,176,512) + 1x1 score 512->21
    "fcn16s_resnet18": 11_199_738,  # + 4x4 21->21 transposed conv + 1x1 score 256->21
    "fcn8s_resnet18": 11_209_503,  # + 4x4 21->21 transposed conv + 1x1 score 128->21
    "fcn_resnet50": 35_322_218 - 2_365_205,  # 32,957,013
    "deeplabv3_resnet50": 42_004_074 - 2_365_205,  # 39,638,869
    "deeplabv3_resnet18": 15_904_085,  # resnet18 minus fc + the same head on 512 channels: 4,727,573
    "unet": 31_037_698,  # with BatchNorm (bias-free convs); 31,031,810 without (test below)
    "unet_small": 482_754,
}


def classes(name):
    return 2 if name.startswith("unet") else 21


def count(tree):
    return sum(leaf.size for leaf in jax.tree.leaves(tree))


@functools.cache
def abstract(name, **overrides):
    model = create_model(name, num_classes=classes(name), **overrides)
    return model, jax.eval_shape(model.init, KEY, jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))


def test_every_segmentation_model_is_documented():
    assert set(list_models(task="segmentation")) == set(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_full_size_shapes_at_odd_sizes_and_param_counts(name):
    model, variables = abstract(name)
    assert count(variables["params"]) == PARAMS[name]
    for h, w in ((64, 64), (65, 97)):
        logits, features = jax.eval_shape(
            lambda v, x: model.apply(v, x, return_features=True),
            variables,
            jax.ShapeDtypeStruct((2, h, w, 3), jnp.float32),
        )
        assert logits.shape == (2, h, w, classes(name)) and logits.dtype == jnp.float32
        assert "pre_logits" in features


def test_unet_without_batchnorm_has_the_reference_count():
    assert count(abstract("unet", use_bn=False)[1]["params"]) == 31_031_810
    assert "batch_stats" not in abstract("unet", use_bn=False)[1]


@pytest.mark.parametrize("name,classifier", [("fcn8s_resnet18", "resnet18"), ("deeplabv3_resnet50", "resnet50")])
def test_backbone_variables_are_the_classifiers_minus_its_head(name, classifier):
    _, variables = abstract(name)
    reference = jax.eval_shape(
        create_model(classifier, num_classes=1000).init, KEY, jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    )
    reference["params"].pop("head")
    for collection in ("params", "batch_stats"):
        assert jax.tree.map(lambda a: a.shape, variables[collection]["backbone"]) == jax.tree.map(
            lambda a: a.shape, reference[collection]
        )


def test_fcn_on_a_vgg_backbone_with_floor_halving_stages():
    model = create_model("fcn8s_resnet18", num_classes=5, backbone="vgg11", stages=("stage5", "stage4", "stage3"))
    x = jax.ShapeDtypeStruct((1, 90, 70, 3), jnp.float32)  # stage3 11x8 <- stage4 5x4 <- stage5 2x2
    logits, _ = jax.eval_shape(model.init_with_output, KEY, x)
    assert logits.shape == (1, 90, 70, 5)


def test_bilinear_transposed_conv_matches_bilinear_resize_inside():
    x = jax.random.normal(KEY, (1, 6, 7, 3))
    up = ConvTranspose(3, 4, strides=2, padding=1, use_bias=False, kernel_init=bilinear_kernel_init)
    y = up.apply(up.init(KEY, x), x)
    np.testing.assert_allclose(y[:, 1:-1, 1:-1], resize_bilinear(x, (12, 14))[:, 1:-1, 1:-1], atol=1e-5)


SHRUNK_BACKBONE = {"stage_sizes": (1, 1, 1, 1), "width": 8}
SHRUNK = {
    "unet": ("unet_small", {"width": 8, "depth": 2}),
    "fcn": ("fcn8s_resnet18", {"backbone_overrides": SHRUNK_BACKBONE}),
    "deeplab": ("deeplabv3_resnet18", {"backbone_overrides": SHRUNK_BACKBONE, "output_stride": 8, "width": 16}),
}


@functools.cache
def shrunk(family):
    name, overrides = SHRUNK[family]
    model = create_model(name, num_classes=3, platform="cpu", **overrides)  # both lanes' CPU convs
    return model, jax.jit(model.init)(KEY, jnp.zeros((1, 32, 32, 3)))  # jitted: eager init is slower


@pytest.mark.parametrize("family", sorted(SHRUNK))
def test_one_set_of_params_segments_three_input_sizes(family):
    model, variables = shrunk(family)
    sizes = ((32, 32), (45, 23), (17, 50))
    images = [jax.random.normal(KEY, (2, h, w, 3)) for h, w in sizes]
    # One program for the three sizes: one compilation instead of three.
    outputs = jax.jit(lambda v, xs: [model.apply(v, x) for x in xs])(variables, images)
    for (h, w), logits in zip(sizes, outputs):
        assert logits.shape == (2, h, w, 3)
        assert np.isfinite(np.asarray(logits)).all()


def test_unet_upsample_decoder_at_full_size():
    model, variables = abstract("unet", decoder="upsample")
    assert variables["params"]["decoder1_up"]["kernel"].shape == (1, 1, 128, 64)
    logits = jax.eval_shape(model.apply, variables, jax.ShapeDtypeStruct((1, 65, 97, 3), jnp.float32))
    assert logits.shape == (1, 65, 97, 2)


@pytest.mark.xla_lane
@pytest.mark.parametrize("family", sorted(SHRUNK))
def test_train_step_gradients(family):
    model, variables = shrunk(family)
    x = jax.random.normal(KEY, (2, 27, 35, 3))
    labels = jax.random.randint(KEY, (2, 27, 35), 0, 3)

    @jax.jit
    def step(params):
        def loss(p):
            logits, state = model.apply(
                {"params": p, "batch_stats": variables["batch_stats"]},
                x,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": KEY},
            )
            log_probs = jax.nn.log_softmax(logits)
            return -jnp.mean(jnp.take_along_axis(log_probs, labels[..., None], axis=-1)), state

        return jax.value_and_grad(loss, has_aux=True)(params)

    (value, state), grads = step(variables["params"])
    assert np.isfinite(value)
    assert jax.tree.structure(grads) == jax.tree.structure(variables["params"])
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert jax.tree.structure(state["batch_stats"]) == jax.tree.structure(variables["batch_stats"])
    params = variables["params"]
    if family == "unet":
        assert {"encoder1_conv1", "bottleneck_conv2", "decoder2_up", "decoder1_conv2", "classifier"} <= set(params)
        assert np.abs(grads["encoder1_conv1"]["conv"]["kernel"]).sum() > 0
    elif family == "fcn":  # zero-initialised score layers: only they get gradients at first
        assert set(params) == {
            "backbone",
            *(f"score_stage{k}" for k in (2, 3, 4)),
            "upsample_stage3",
            "upsample_stage2",
        }
        assert all(np.abs(grads[f"score_stage{k}"]["kernel"]).sum() > 0 for k in (2, 3, 4))
    else:
        assert set(params) == {"backbone", "aspp", "head_conv", "classifier"}
        assert np.abs(grads["backbone"]["stem_conv"]["conv"]["kernel"]).sum() > 0


def test_bad_options_raise():
    x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    backbone = {"backbone_overrides": SHRUNK_BACKBONE}
    cases = [
        (dict(name="fcn8s_resnet18", skips="fcn4s"), "skips"),
        (
            dict(name="fcn8s_resnet18", backbone_overrides={**SHRUNK_BACKBONE, "output_stride": 8}),
            "twice the resolution",
        ),
        (dict(name="fcn32s_resnet18", stages=("stage9",), **backbone), "no features"),
        (dict(name="fcn32s_resnet18", backbone="unet_small"), "classification"),
        (dict(name="deeplabv3_resnet18", output_stride=32, **backbone), "output_stride"),
        (dict(name="deeplabv3_resnet18", backbone_overrides={"output_stride": 8}), "backbone_overrides"),
        (dict(name="unet_small", decoder="nope"), "decoder"),
    ]
    for kwargs, match in cases:
        model = create_model(kwargs.pop("name"), num_classes=3, **kwargs)
        with pytest.raises(ValueError, match=match):
            jax.eval_shape(model.init, KEY, x)

"""model.remat: the same parameter paths, loss and gradients as without it, for the residual, inverted-residual,
MBConv and dense blocks and a segmenter's backbone; far fewer activations kept for the backward pass of a deep model
(what `cnnjax benchmark --remat` reports); a refusal for models without blocks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.benchmark.residuals import backward_residual_bytes
from cnnjax.errors import InvalidInputError
from cnnjax.models import create_model
from cnnjax.tasks.losses import cross_entropy

SHRUNK = {
    "cifar_resnet20": {"stage_sizes": (1, 1, 1), "width": 4},
    "preact_resnet18": {"stage_sizes": (1, 1, 1, 1), "width": 4},
    "mobilenet_v2": {"inverted_residual_setting": ((1, 8, 1, 1), (6, 8, 2, 2))},
    "efficientnet_b0": {"width_mult": 0.25, "depth_mult": 0.25},
    "densenet121": {"block_config": (1, 1, 1, 1), "growth_rate": 4, "num_init_features": 8},
    "deeplabv3_resnet18": {"backbone_overrides": {"stage_sizes": (1, 1, 1, 1), "width": 4}, "width": 8},
}


def abstract_variables(name: str, remat: bool, size: int = 32):
    model = create_model(name, num_classes=3, platform="cpu", remat=remat, **SHRUNK[name])
    return model, jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))


@pytest.mark.parametrize("name", sorted(SHRUNK))
def test_remat_keeps_every_parameter_path_and_shape(name):
    _, plain = abstract_variables(name, remat=False)
    _, rematted = abstract_variables(name, remat=True)
    assert jax.tree.structure(plain) == jax.tree.structure(rematted)
    assert [x.shape for x in jax.tree.leaves(plain)] == [x.shape for x in jax.tree.leaves(rematted)]


def test_remat_gives_the_same_loss_and_gradients():
    """Residual blocks with drop-path: the recomputed forward pass draws the same dropout masks."""
    x = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
    labels = jnp.array([0, 1, 2, 1])
    options = {**SHRUNK["preact_resnet18"], "drop_path_rate": 0.2, "num_classes": 3, "platform": "cpu"}
    models = {remat: create_model("preact_resnet18", remat=remat, **options) for remat in (False, True)}
    variables = jax.jit(models[False].init)(jax.random.key(0), x)

    def loss(params, model):
        logits, _ = model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)}
        )
        return cross_entropy(logits, labels).mean()

    results = {
        k: jax.jit(jax.value_and_grad(loss), static_argnums=1)(variables["params"], m) for k, m in models.items()
    }
    (plain_loss, plain_grads), (remat_loss, remat_grads) = results[0], results[1]
    np.testing.assert_allclose(remat_loss, plain_loss, rtol=1e-6)
    for remat_grad, plain_grad in zip(jax.tree.leaves(remat_grads), jax.tree.leaves(plain_grads), strict=True):
        np.testing.assert_allclose(remat_grad, plain_grad, rtol=1e-5, atol=1e-6 * float(np.max(np.abs(plain_grad))))


def test_a_deep_model_keeps_far_fewer_activations_for_the_backward_pass():
    images = jax.ShapeDtypeStruct((64, 32, 32, 3), jnp.float32)
    kept = {}
    for remat in (False, True):
        model = create_model("cifar_resnet56", num_classes=10, platform="cpu", remat=remat)
        variables = jax.eval_shape(lambda model=model: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
        variables = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), variables)
        kept[remat] = backward_residual_bytes(model, variables, images, num_classes=10)
    print(f"ResNet-56, batch 64: {kept[False] / 2**20:.1f} MiB kept without remat, {kept[True] / 2**20:.1f} MiB with")
    assert kept[True] < 0.25 * kept[False]


def test_remat_on_a_model_without_blocks_is_refused_before_compiling():
    model = create_model("lenet5", num_classes=10, in_channels=1, remat=True)
    with pytest.raises(InvalidInputError, match="remat=True needs blocks"):
        jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1))))

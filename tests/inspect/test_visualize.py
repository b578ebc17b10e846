"""`cnnjax.inspect`'s visualisations on trained runs: class maximisation reaches a confident answer for every
digit (sparser with the L1 prior), a targeted L∞ attack fools the digits model, Grad-CAM's mass for a shape
lies inside its pixels, style transfer lowers the style loss, and the pieces obey their stated rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.errors import InvalidInputError
from cnnjax.inspect import adversarial, examples, maximize, saliency, style
from cnnjax.inspect.layers import LOGITS, PixelModel, check_layers
from cnnjax.inspect.objectives import Objective
from cnnjax.inspect.priors import Priors, gaussian_blur
from cnnjax.models import create_model
from cnnjax.models.vgg import VGG_CFGS

DIGITS = np.arange(10)
L1_PRIOR = Priors(l1=0.5)


def test_gram_matrix_equals_a_hand_computation():
    activation = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)  # positions (0,0) (0,1) (1,0) (1,1) x 3 ch
    rows = activation.reshape(4, 3)
    hand = np.array([[sum(rows[p, i] * rows[p, j] for p in range(4)) / 4 for j in range(3)] for i in range(3)])
    assert hand[0, 1] == (0 * 1 + 3 * 4 + 6 * 7 + 9 * 10) / 4
    np.testing.assert_allclose(np.asarray(style.gram(jnp.asarray(activation)))[0], hand, rtol=1e-6)


def test_priors_penalise_as_stated_and_blur_keeps_a_constant_image():
    image = np.zeros((1, 2, 2, 1), np.float32)
    image[0, 0, 0, 0] = 1.0
    # mean|x| = 1/4, mean x^2 = 1/4, row and column differences: one of two is 1 -> 1/2 each
    penalty = Priors(l1=1.0, l2=2.0, tv=4.0).penalty(jnp.asarray(image))
    np.testing.assert_allclose(np.asarray(penalty), [0.25 + 0.5 + 4 * (0.5 + 0.5)])
    constant = jnp.full((1, 5, 5, 3), 0.3)
    np.testing.assert_allclose(np.asarray(gaussian_blur(constant, 1.0)), 0.3, rtol=1e-6)


def test_objective_scores_an_entry_a_map_mean_and_a_neuron():
    dense = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(Objective().score(dense, jnp.asarray([1, 0])), [2.0, 3.0])
    maps = jnp.arange(2 * 2 * 3 * 2, dtype=jnp.float32).reshape(2, 2, 3, 2)
    np.testing.assert_allclose(Objective("x").score(maps, jnp.asarray([0, 1])), maps[[0, 1], ..., [0, 1]].mean((1, 2)))
    assert float(Objective("x", (1, 2)).score(maps, jnp.asarray([0, 1]))[1]) == float(maps[1, 1, 2, 1])


def test_unknown_layers_name_the_close_ones_before_any_compile(digits_run, digits_net):
    shape = digits_run.image_shape
    assert check_layers(digits_net, shape, ["c1", "s4", LOGITS])["c1"].shape == (1, 28, 28, 6)
    with pytest.raises(InvalidInputError, match=r"unknown layer 'c2'; did you mean 'c3' or 'c1'.*layers: c1, c3"):
        check_layers(digits_net, shape, ["c2"])
    with pytest.raises(InvalidInputError, match="'s4' is a features-dict entry, which gradients do not reach"):
        check_layers(digits_net, shape, ["s4"], gradient=True)


def test_class_maximisation_reaches_099_for_every_digit_and_the_l1_prior_makes_images_sparser(digits_run, digits_net):
    objective = Objective(log_probability=True)
    plain = maximize.maximize(digits_net, DIGITS, objective, image_shape=digits_run.image_shape)
    sparse = maximize.maximize(digits_net, DIGITS, objective, image_shape=digits_run.image_shape, priors=L1_PRIOR)
    for result in (plain, sparse):
        probabilities = np.asarray(jax.nn.softmax(result.logits))[DIGITS, DIGITS]
        assert probabilities.min() >= 0.99, probabilities
        assert result.pixels.min() >= 0.0 and result.pixels.max() <= 1.0
    before, after = maximize.pixel_statistics(plain.pixels), maximize.pixel_statistics(sparse.pixels)
    assert after["l1"] < 0.7 * before["l1"] and after["above"] < before["above"], (before, after)


def test_a_neurons_ascent_changes_only_the_pixels_of_its_receptive_field(digits_run, digits_net):
    """c3 at (5, 5): c1 (5x5) -> 2x2 pool -> c3 (5x5) sees input rows and columns 10..23."""
    start = np.asarray(maximize.noise(2, digits_run.image_shape))
    result = maximize.maximize(
        digits_net, [0, 7], Objective("c3", (5, 5)), start=start, ascent=maximize.Ascent(steps=20)
    )
    changed = np.abs(result.pixels - start).max(axis=(0, 3)) > 0
    assert changed[10:24, 10:24].any() and not changed[:10].any() and not changed[24:].any()
    assert not changed[:, :10].any() and not changed[:, 24:].any()


def test_targeted_pgd_keeps_its_budget_and_fools_the_digits_model_on_90_percent_of_100_images_at_03(
    digits_run, digits_net
):
    """Budget 0.1 fools this short run on ~27 % of the images and the full default run on 33 % (its README
    numbers, benchmarks/inspect_acceptance.py): LeNet-5 on the blurred 32x32 digits needs about 0.3."""
    pixels, labels = examples.dataset_examples(digits_run, range(100))
    targets = (labels + 1) % 10

    def success(adversarial_pixels):
        return (np.asarray(digits_net.logits(adversarial_pixels)).argmax(-1) == targets).mean()

    small, large = (adversarial.pgd(digits_net, pixels, targets, epsilon) for epsilon in (0.1, 0.3))
    one_step = adversarial.fgsm(digits_net, pixels, targets, 0.1)
    for epsilon, adv in ((0.1, small), (0.3, large), (0.1, one_step)):
        assert np.abs(adv - pixels).max() <= epsilon + 1e-6 and adv.min() >= 0.0 and adv.max() <= 1.0
    assert success(large) >= 0.9 and success(small) >= success(one_step), (success(large), success(small))
    # A warm start (the 0.3 attack's images) is projected onto the 0.1 ball, and the steps keep it there.
    warm = adversarial.pgd(digits_net, pixels, targets, 0.1, start=large)
    assert np.abs(warm - pixels).max() <= 0.1 + 1e-6 and warm.min() >= 0.0 and warm.max() <= 1.0
    projected = adversarial.pgd(digits_net, pixels, targets, 0.1, steps=1, step_size=0.0, start=large)
    np.testing.assert_array_equal(projected, np.clip(np.clip(large, pixels - 0.1, pixels + 0.1), 0.0, 1.0))


def test_gradcam_mass_of_a_shape_falls_inside_its_pixels(shapes_run):
    """Circles and rectangles, which the short run learns (triangles take longer): Grad-CAM's mass inside the
    shape's pixels is at least 2.5x a uniform map's.  The full run: README numbers."""
    net = PixelModel.of_run(shapes_run)
    pixels, labels = examples.dataset_examples(shapes_run, range(16))
    layer = saliency.default_gradcam_layer(net, shapes_run.image_shape)
    for shape_class in (1, 2):  # circle, rectangle
        present = [i for i in range(len(pixels)) if (labels[i] == shape_class).any()]
        masks = labels[present] == shape_class
        maps = saliency.gradcam(net, pixels[present], np.full(len(present), shape_class), layer)
        inside = saliency.mass_inside(maps, masks).mean()
        assert inside >= 2.5 * masks.mean(), (shape_class, inside, masks.mean())


def test_style_transfer_lowers_the_style_loss_tenfold(digits_run, digits_net):
    pixels, _ = examples.dataset_examples(digits_run, [0, 1])
    settings = style.Style(content_layer="c3", style_layers=("c1", "c3"), steps=30)
    result = style.transfer(digits_net, pixels[:1], pixels[1:], settings)
    assert result.style[0] <= result.start_style[0] / 10, (result.start_style, result.style)
    assert result.start_content[0] == 0.0 and result.pixels.min() >= 0.0 and result.pixels.max() <= 1.0


def test_style_transfer_with_the_papers_vgg19_layers_on_a_shrunk_vgg19():
    """Random weights, fan-in scaled (ImageNet's are not available offline), the paper's layers (style.Style
    defaults); Adam, whose program compiles faster than L-BFGS's line search on 16 convs."""
    cfg = tuple(item if item == "M" else item // 16 for item in VGG_CFGS["E"])
    model = create_model("vgg19", num_classes=10, cfg=cfg, hidden_features=8)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))  # init would compile
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda s: rng.normal(0, np.prod(s.shape[:-1]) ** -0.5, s.shape).astype(np.float32), shapes)
    net = PixelModel(model, variables, np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32))
    content, style_image = (np.asarray(maximize.noise(1, (32, 32, 3), seed, 0.0, 1.0)) for seed in (1, 2))
    result = style.transfer(net, content, style_image, style.Style(optimizer="adam", steps=50, learning_rate=0.05))
    assert result.style[0] <= result.start_style[0] / 10, (result.start_style, result.style)

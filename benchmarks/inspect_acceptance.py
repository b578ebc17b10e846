"""The acceptance numbers of `cnnjax visualize` (README, "What a CNN learns") from trained runs' workdirs.

    python benchmarks/inspect_acceptance.py --digits DIR [--shapes DIR]

--digits: a run of experiments/digits_lenet5.py (LeNet-5, 32x32 digits).  Class maximisation from noise for the
10 classes (log-probability objective, Adam, the library's defaults) without a prior and with the L1 prior
(weight L1_WEIGHT): each class's probability and the pixel statistics; a targeted PGD attack (target = (true
class + 1) mod 10, L∞ budgets 0.1 to 0.3 in [0, 1] pixel units of the 32x32 image fed to the model) on the
first 100 test images, with a 50x longer targeted PGD at 0.1, an annealed one (warm-started down the budgets
ANNEALED_BUDGETS to 0.1), an untargeted PGD and a targeted FGSM at 0.1 for comparison; style transfer between
two test digits (content c3, style c1 and c3) with L-BFGS and Adam: the style loss of the content image and of
the result.
--shapes: a run of experiments/shapes_segmentation.py (a U-Net).  For each shape class and the first
SALIENCY_IMAGES test images showing it: the fraction of each saliency map's mass inside the class's true
pixels, against a uniform map's (the class's area fraction).
"""

import argparse
import time

import numpy as np

from cnnjax.inspect import adversarial, examples, maximize, saliency, style
from cnnjax.inspect.layers import PixelModel
from cnnjax.inspect.objectives import Objective
from cnnjax.inspect.priors import Priors
from cnnjax.inspect.trained_run import load_run

L1_WEIGHT = 0.5
ATTACK_IMAGES, EPSILON = 100, adversarial.EPSILON
ATTACK_BUDGETS = (0.1, 0.15, 0.2, 0.3)
LONG_PGD_STEPS = (
    1000  # a 50x longer attack at the default budget: does success plateau (the model) or grow (the attack)?
)
# ε annealing: each budget's attack (100 steps) starts from the previous one's images, projected onto its ball
ANNEALED_BUDGETS, ANNEALED_STEPS = (0.3, 0.25, 0.2, 0.17, 0.15, 0.13, 0.12, 0.11, 0.1), 100
SALIENCY_IMAGES = 50
STYLE_SETTINGS = {"content_layer": "c3", "style_layers": ("c1", "c3")}


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def digits(workdir: str) -> None:
    run = load_run(workdir)
    net = PixelModel.of_run(run)
    classes = np.arange(len(run.class_names))
    print(f"digits run {workdir} (step {run.step})")
    for name, priors in (("no prior", Priors()), (f"L1 {L1_WEIGHT:g}", Priors(l1=L1_WEIGHT))):
        start = time.perf_counter()
        result = maximize.maximize(
            net, classes, Objective(log_probability=True), image_shape=run.image_shape, priors=priors
        )
        probabilities = softmax(result.logits)[classes, classes]
        stats = ", ".join(f"{k} {v:.3f}" for k, v in maximize.pixel_statistics(result.pixels).items())
        print(
            f"  maximise class, {name}: p min {probabilities.min():.4f} mean {probabilities.mean():.4f} "
            f"({' '.join(f'{p:.3f}' for p in probabilities)}); pixels: {stats} [{time.perf_counter() - start:.1f} s]"
        )
    pixels, labels = examples.dataset_examples(run, range(ATTACK_IMAGES))
    targets = (labels + 1) % len(classes)
    clean = (np.asarray(net.logits(pixels)).argmax(-1) == labels).mean()
    print(f"  {ATTACK_IMAGES} test images: clean accuracy {clean:.2%}")
    attacks = {
        f"targeted PGD ({adversarial.PGD_STEPS} steps), L∞ {epsilon:g}": (targets, epsilon, True, adversarial.PGD_STEPS)
        for epsilon in ATTACK_BUDGETS
    }
    attacks[f"targeted PGD ({LONG_PGD_STEPS} steps), L∞ {EPSILON:g}"] = (targets, EPSILON, True, LONG_PGD_STEPS)
    attacks[f"untargeted PGD, L∞ {EPSILON:g}"] = (labels, EPSILON, False, adversarial.PGD_STEPS)
    for name, (classes, epsilon, targeted, steps) in attacks.items():
        adv = adversarial.pgd(net, pixels, classes, epsilon, targeted=targeted, steps=steps)
        answers = np.asarray(net.logits(adv)).argmax(-1)
        success = (answers == targets).mean() if targeted else (answers != labels).mean()
        goal = "answer (true + 1) mod 10" if targeted else "answer another class"
        print(f"  {name}: {success:.0%} {goal}; max |δ| {np.abs(adv - pixels).max():.3f}")
    adv = None
    for epsilon in ANNEALED_BUDGETS:
        adv = adversarial.pgd(net, pixels, targets, epsilon, steps=ANNEALED_STEPS, start=adv)
    success = (np.asarray(net.logits(adv)).argmax(-1) == targets).mean()
    budgets = " -> ".join(f"{e:g}" for e in ANNEALED_BUDGETS)
    print(f"  targeted PGD annealed over L∞ {budgets} ({ANNEALED_STEPS} steps each): {success:.0%} at {EPSILON:g}")
    adv = adversarial.fgsm(net, pixels, targets, EPSILON)
    success = (np.asarray(net.logits(adv)).argmax(-1) == targets).mean()
    print(f"  targeted FGSM, L∞ {EPSILON:g}: {success:.0%} answer (true + 1) mod 10")
    for optimizer, steps in (("lbfgs", 100), ("adam", 300)):
        settings = style.Style(**STYLE_SETTINGS, optimizer=optimizer, steps=steps)
        result = style.transfer(net, pixels[:1], pixels[1:2], settings)
        fall = result.start_style[0] / result.style[0]
        print(
            f"  style transfer ({optimizer}, {steps} steps): style loss {result.start_style[0]:.4g} -> "
            f"{result.style[0]:.4g} ({fall:.0f}x lower), content loss {result.content[0]:.4g}"
        )


def shapes(workdir: str) -> None:
    run = load_run(workdir)
    net = PixelModel.of_run(run)
    pixels, labels = examples.dataset_examples(run, range(SALIENCY_IMAGES))
    predictions = np.asarray(net.logits(pixels)).argmax(-1)
    layer = saliency.default_gradcam_layer(net, run.image_shape)
    print(
        f"shapes run {workdir} (step {run.step}): pixel accuracy on {SALIENCY_IMAGES} test images "
        f"{(predictions == labels).mean():.2%}; Grad-CAM layer {layer}"
    )
    methods = {
        "gradcam": lambda x, c: saliency.gradcam(net, x, c, layer),
        "vanilla": lambda x, c: saliency.vanilla(net, x, c),
        "smoothgrad": lambda x, c: saliency.smoothgrad(net, x, c),
    }
    for class_index, name in enumerate(run.class_names):
        present = [i for i in range(len(pixels)) if (labels[i] == class_index).any()]
        masks = labels[present] == class_index
        fractions = {
            method: saliency.mass_inside(compute(pixels[present], np.full(len(present), class_index)), masks).mean()
            for method, compute in methods.items()
        }
        shown = ", ".join(f"{method} {value:.1%}" for method, value in fractions.items())
        print(f"  {name} ({len(present)} images): mass inside its pixels: {shown}; uniform {masks.mean():.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", required=True, help="workdir of an experiments/digits_lenet5.py run")
    parser.add_argument("--shapes", help="workdir of an experiments/shapes_segmentation.py run")
    args = parser.parse_args()
    digits(args.digits)
    if args.shapes:
        shapes(args.shapes)


if __name__ == "__main__":
    main()

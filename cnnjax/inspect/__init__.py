"""Model inspection: the per-layer table (:func:`summary`) and what a trained CNN learns.

A trained run (:func:`load_run`) becomes a :class:`PixelModel`, a function of [0, 1] pixels whose layers are
reachable by name; on it: conv filters (:mod:`~cnnjax.inspect.filters`), activation maximisation
(:mod:`~cnnjax.inspect.maximize`), saliency maps (:mod:`~cnnjax.inspect.saliency`), adversarial and fooling
images (:mod:`~cnnjax.inspect.adversarial`), Deep Dream (:func:`deep_dream`) and style transfer
(:func:`transfer`).  `cnnjax visualize` draws each as a PNG.
"""

from cnnjax.inspect.adversarial import fgsm, fooling_images, pgd
from cnnjax.inspect.dream import Dream, deep_dream
from cnnjax.inspect.examples import dataset_examples, image_file
from cnnjax.inspect.filters import conv_kernels, layer_kernel
from cnnjax.inspect.layers import LOGITS, PixelModel, check_layers, layer_shapes
from cnnjax.inspect.maximize import Ascent, Maximized, pixel_statistics
from cnnjax.inspect.objectives import Objective
from cnnjax.inspect.priors import Priors
from cnnjax.inspect.saliency import gradcam, mass_inside, smoothgrad, vanilla
from cnnjax.inspect.style import Style, Stylised, gram, transfer
from cnnjax.inspect.summary import LayerRow, Summary, Totals, summary
from cnnjax.inspect.trained_run import TrainedRun, load_run

__all__ = [
    "LOGITS",
    "Ascent",
    "Dream",
    "LayerRow",
    "Maximized",
    "Objective",
    "PixelModel",
    "Priors",
    "Style",
    "Stylised",
    "Summary",
    "Totals",
    "TrainedRun",
    "check_layers",
    "conv_kernels",
    "dataset_examples",
    "deep_dream",
    "fgsm",
    "fooling_images",
    "gradcam",
    "gram",
    "image_file",
    "layer_kernel",
    "layer_shapes",
    "load_run",
    "mass_inside",
    "pgd",
    "pixel_statistics",
    "smoothgrad",
    "summary",
    "transfer",
    "vanilla",
]

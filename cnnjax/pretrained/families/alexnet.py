"""AlexNet (torchvision's single-tower variant): ``features.0 / 3 / 6 / 8 / 10`` are the five convs,
``classifier.1`` / ``.4`` / ``.6`` the Linear layers; the first Linear reads torch's NCHW flatten of the
pooled 256 x 6 x 6 map."""

from __future__ import annotations

from cnnjax.pretrained.mapping import Family, TorchModule, flattened_classifier, register_family

CONV_INDEX = (0, 3, 6, 8, 10)


def torch_modules(paths, shapes) -> dict[str, TorchModule]:
    modules = {f"conv{i}": TorchModule(f"features.{index}") for i, index in enumerate(CONV_INDEX, start=1)}
    return modules | flattened_classifier(shapes, "conv5", (1, 4, 6))


ALEXNET = register_family(Family("AlexNet", ("alexnet",), torch_modules, "torchvision.models.alexnet (weights=...)"))

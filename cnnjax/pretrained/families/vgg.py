"""VGG and VGG-BN (torchvision): ``features.{i}`` numbers every layer of the conv stack (conv, [BatchNorm],
ReLU, max-pool), ``classifier.0`` / ``.3`` / ``.6`` the Linear layers; the first Linear reads torch's NCHW
flatten of the pooled map."""

from __future__ import annotations

import re

from cnnjax.pretrained.mapping import Family, TorchModule, flattened_classifier, register_family


def torch_modules(paths, shapes) -> dict[str, TorchModule]:
    convs = sorted(
        (tuple(int(n) for n in re.fullmatch(r"stage(\d+)_conv(\d+)", p).groups()), p)
        for p in paths
        if re.fullmatch(r"stage\d+_conv\d+", p)
    )
    batch_norm = any(re.fullmatch(r"stage\d+_bn\d+", p) for p in paths)
    modules, index, stage = {}, 0, 1
    for (conv_stage, conv), path in convs:
        index += conv_stage - stage  # one max-pool between stages
        stage = conv_stage
        modules[path] = TorchModule(f"features.{index}")
        if batch_norm:
            modules[f"stage{conv_stage}_bn{conv}"] = TorchModule(f"features.{index + 1}")
        index += 3 if batch_norm else 2  # conv, [BN], ReLU
    return modules | flattened_classifier(shapes, convs[-1][1], (0, 3, 6))


VGG = register_family(Family("VGG", ("vgg*",), torch_modules, "torchvision.models.vgg11 ... vgg19_bn (weights=...)"))

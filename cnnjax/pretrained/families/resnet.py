"""ResNet, ResNeXt, wide ResNet (torchvision) and SE-ResNet (timm): ``conv1`` / ``bn1`` stem, ``layer{s}.{b}``
blocks with ``conv{i}`` / ``bn{i}``, ``downsample.0`` / ``.1`` projections, ``se.fc1`` / ``.fc2`` (timm's 1x1
convs, cnnjax's Dense) and the ``fc`` head.  cnnjax numbers blocks from 1, torch from 0."""

from __future__ import annotations

from cnnjax.pretrained.mapping import Family, TorchModule, map_all, minus_one, register_family

BLOCK = r"stage(\d)_block(\d+)"


def _layer(m) -> str:
    return f"layer{m.group(1)}.{minus_one(m.group(2))}"


RULES = (
    (r"stem_conv/conv", "conv1"),
    (r"stem_conv/norm", "bn1"),
    (BLOCK + r"/conv(\d)/conv", lambda m: f"{_layer(m)}.conv{m.group(3)}"),
    (BLOCK + r"/conv(\d)/norm", lambda m: f"{_layer(m)}.bn{m.group(3)}"),
    (BLOCK + r"/downsample/conv", lambda m: f"{_layer(m)}.downsample.0"),
    (BLOCK + r"/downsample/norm", lambda m: f"{_layer(m)}.downsample.1"),
    (BLOCK + r"/se/(fc\d)", lambda m: f"{_layer(m)}.se.{m.group(3)}"),
    (r"head", "fc"),
)


def torch_modules(paths, shapes) -> dict[str, TorchModule]:
    modules = map_all(paths, RULES, "ResNet")
    return {p: TorchModule(t.name, conv_1x1="/se/" in p) for p, t in modules.items()}


RESNET = register_family(
    Family(
        "ResNet",
        ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext*", "wide_resnet*", "seresnet*"),
        torch_modules,
        "torchvision.models.resnet* / resnext* / wide_resnet* (weights=...); timm 'seresnet50'",
    )
)

"""DenseNet (torchvision): ``features.conv0`` / ``norm0`` stem, ``features.denseblock{b}.denselayer{l}`` layers
(``norm1`` / ``conv1`` the bottleneck, ``norm2`` / ``conv2`` the 3x3), ``features.transition{b}`` (``norm`` /
``conv``), ``features.norm5`` the final BatchNorm, ``classifier`` the head.  torchvision's published files
name a layer's tensors ``norm.1`` / ``conv.2`` (before PyTorch 0.4 allowed dots in names); they are read as
``norm1`` / ``conv2``, as torchvision's own loader does."""

from __future__ import annotations

from cnnjax.pretrained.mapping import Family, map_all, register_family

LAYER = r"block(\d+)_layer(\d+)"
UNIT = {"bottleneck": "1", "conv": "2"}


def _layer(m) -> str:
    return f"features.denseblock{m.group(1)}.denselayer{m.group(2)}"


RULES = (
    (r"stem_conv/conv", "features.conv0"),
    (r"stem_conv/norm", "features.norm0"),
    (LAYER + r"/(bottleneck|conv)/(conv|norm)", lambda m: f"{_layer(m)}.{m.group(4)}{UNIT[m.group(3)]}"),
    (r"transition(\d+)/(conv|norm)", r"features.transition\1.\2"),
    (r"final_norm", "features.norm5"),
    (r"head", "classifier"),
)


def torch_modules(paths, shapes):
    return map_all(paths, RULES, "DenseNet")


DENSENET = register_family(
    Family(
        "DenseNet",
        ("densenet*",),
        torch_modules,
        "torchvision.models.densenet121 / 161 / 169 / 201 (weights=...)",
        legacy_keys=(
            (r"(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))", r"\1\2"),
        ),
    )
)

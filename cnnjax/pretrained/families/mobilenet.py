"""MobileNetV2 (torchvision): ``features.0`` the stem (conv ``.0``, BN ``.1``), ``features.{k}`` the k-th
inverted residual block counted over all stages (its ``conv`` sequence: [expand conv-BN], depthwise conv-BN,
project conv, BN), the last ``features`` entry the 1x1 conv to 1280, ``classifier.1`` the head."""

from __future__ import annotations

from cnnjax.pretrained.mapping import Family, TorchModule, map_all, ordinal, register_family

BLOCK = r"stage\d+_block\d+"


def torch_modules(paths, shapes) -> dict[str, TorchModule]:
    blocks = ordinal(paths, BLOCK)
    expands = {p.split("/")[0] for p in paths if "/expand/" in p}

    def block(m) -> str:
        return f"features.{blocks[m.group(1)] + 1}.conv"

    def depthwise(m) -> str:
        index = 1 if m.group(1) in expands else 0
        return f"{block(m)}.{index}.{'0' if m.group(2) == 'conv' else '1'}"

    def project(m) -> str:
        index = 2 if m.group(1) in expands else 1
        return f"{block(m)}.{index if m.group(2) == 'conv' else index + 1}"

    last = len(blocks) + 1
    rules = (
        (r"stem_conv/(conv|norm)", lambda m: f"features.0.{'0' if m.group(1) == 'conv' else '1'}"),
        (f"({BLOCK})/expand/(conv|norm)", lambda m: f"{block(m)}.0.{'0' if m.group(2) == 'conv' else '1'}"),
        (f"({BLOCK})/depthwise/(conv|norm)", depthwise),
        (f"({BLOCK})/project/(conv|norm)", project),
        (r"last_conv/(conv|norm)", lambda m: f"features.{last}.{'0' if m.group(1) == 'conv' else '1'}"),
        (r"head", "classifier.1"),
    )
    return map_all(paths, rules, "MobileNetV2")


MOBILENET_V2 = register_family(
    Family("MobileNetV2", ("mobilenet_v2",), torch_modules, "torchvision.models.mobilenet_v2 (weights=...)")
)

"""EfficientNet B0-B7 (torchvision): ``features.0`` the stem (conv ``.0``, BN ``.1``), ``features.{s}.{b}`` the
b-th (from 0) MBConv block of stage s (cnnjax ``stage{s}_block{b+1}``), whose ``block`` sequence holds
[expand conv-BN], depthwise conv-BN, squeeze-excitation (``fc1`` / ``fc2``: 1x1 convs, cnnjax's Dense) and
project conv-BN; the last ``features`` entry the 1x1 conv to 1280 x width, ``classifier.1`` the head."""

from __future__ import annotations

from cnnjax.pretrained.mapping import Family, TorchModule, map_all, minus_one, register_family

BLOCK = r"(stage(\d+)_block(\d+))"
UNIT = {"conv": "0", "norm": "1"}


def torch_modules(paths, shapes) -> dict[str, TorchModule]:
    expands = {p.split("/")[0] for p in paths if "/expand/" in p}
    last = 1 + max(int(p[len("stage") :].split("_")[0]) for p in paths if p.startswith("stage"))

    def block(m, part: str) -> str:
        offset = 1 if m.group(1) in expands else 0
        index = {"expand": 0, "depthwise": offset, "se": offset + 1, "project": offset + 2}[part]
        return f"features.{m.group(2)}.{minus_one(m.group(3))}.block.{index}"

    rules = (
        (r"stem_conv/(conv|norm)", lambda m: f"features.0.{UNIT[m.group(1)]}"),
        (BLOCK + r"/(expand|depthwise|project)/(conv|norm)", lambda m: f"{block(m, m.group(4))}.{UNIT[m.group(5)]}"),
        (BLOCK + r"/se/(fc\d)", lambda m: f"{block(m, 'se')}.{m.group(4)}"),
        (r"last_conv/(conv|norm)", lambda m: f"features.{last}.{UNIT[m.group(1)]}"),
        (r"head", "classifier.1"),
    )
    modules = map_all(paths, rules, "EfficientNet")
    return {p: TorchModule(t.name, conv_1x1="/se/" in p) for p, t in modules.items()}


EFFICIENTNET = register_family(
    Family(
        "EfficientNet", ("efficientnet_b*",), torch_modules, "torchvision.models.efficientnet_b0 ... b7 (weights=...)"
    )
)

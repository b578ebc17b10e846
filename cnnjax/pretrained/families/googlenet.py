"""GoogLeNet (torchvision): ``conv1`` ... ``conv3`` stem units and ``inception{3a..5b}`` blocks of BasicConv2d
(``conv`` / ``bn``) units: ``branch1``, ``branch2.0`` / ``.1`` (reduce, 3x3), ``branch3.0`` / ``.1``,
``branch4.1`` (after the pool); ``aux1`` / ``aux2`` heads (``conv``, ``fc1`` reading torch's NCHW flatten of
128 x 4 x 4, ``fc2``), ``fc`` the head.  torchvision's ImageNet file holds the auxiliary heads: they are
dropped unless the model has them (``aux_logits=True``).  Its weights expect ``transform_input=True``."""

from __future__ import annotations

from cnnjax.pretrained.mapping import Family, TorchModule, map_all, register_family

BRANCH = {
    "branch1": "branch1",
    "branch2_reduce": "branch2.0",
    "branch2": "branch2.1",
    "branch3_reduce": "branch3.0",
    "branch3": "branch3.1",
    "branch4": "branch4.1",
}
UNIT = {"conv": "conv", "norm": "bn"}
AUX_POOL = 4  # the auxiliary heads pool adaptively to 4 x 4

RULES = (
    (r"(conv\d)/(conv|norm)", lambda m: f"{m.group(1)}.{UNIT[m.group(2)]}"),
    (
        r"(inception\d[a-z])/(branch\d(?:_reduce)?)/(conv|norm)",
        lambda m: f"{m.group(1)}.{BRANCH[m.group(2)]}.{UNIT[m.group(3)]}",
    ),
    (r"(aux\d)/conv/(conv|norm)", lambda m: f"{m.group(1)}.conv.{UNIT[m.group(2)]}"),
    (r"(aux\d)/(fc\d)", r"\1.\2"),
    (r"head", "fc"),
)


def torch_modules(paths, shapes):
    modules = map_all(paths, RULES, "GoogLeNet")
    for path, module in modules.items():
        if path.endswith("/fc1"):
            channels = shapes[f"{path.split('/')[0]}/conv/conv/kernel"][-1]
            modules[path] = TorchModule(module.name, flattened_from=(channels, AUX_POOL, AUX_POOL))
    return modules


GOOGLENET = register_family(
    Family(
        "GoogLeNet",
        ("googlenet",),
        torch_modules,
        "torchvision.models.googlenet (weights=...); build the model with transform_input=True",
        dropped=(r"aux[12]\..*",),
    )
)

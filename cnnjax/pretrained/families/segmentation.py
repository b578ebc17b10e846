"""FCN-ResNet50 and DeepLabV3-ResNet50 (torchvision): the ``backbone.*`` keys are the ResNet's without ``fc``
(:mod:`.resnet`), ``classifier.*`` the head: FCN's conv-BN (``0`` / ``1``) and score conv (``4``);
DeepLabV3's ASPP (``classifier.0``: ``convs.0`` 1x1, ``convs.1-3`` atrous, ``convs.4`` image pooling (conv
``.1``, BN ``.2``), ``project``), conv-BN (``1`` / ``2``) and score conv (``4``).  torchvision's COCO-VOC
files hold an auxiliary FCN head on stage 3 (``aux_classifier.*``), which cnnjax's models lack: dropped."""

from __future__ import annotations

from cnnjax.pretrained.families.resnet import RULES as RESNET_RULES
from cnnjax.pretrained.mapping import Family, TorchModule, map_all, register_family

UNIT = {"conv": "0", "norm": "1"}
BACKBONE_RULES = tuple(
    (f"backbone/{pattern}", (lambda r: lambda m: f"backbone.{r(m) if callable(r) else m.expand(r)}")(replacement))
    for pattern, replacement in RESNET_RULES
    if pattern != "head"
)
FCN_RULES = (
    *BACKBONE_RULES,
    (r"head_conv/(conv|norm)", lambda m: f"classifier.{UNIT[m.group(1)]}"),
    (r"score_stage4", "classifier.4"),
)
ASPP_BRANCH = {"conv1x1": "convs.0", "atrous1": "convs.1", "atrous2": "convs.2", "atrous3": "convs.3"}
DEEPLAB_RULES = (
    *BACKBONE_RULES,
    (r"aspp/(conv1x1|atrous\d)/(conv|norm)", lambda m: f"classifier.0.{ASPP_BRANCH[m.group(1)]}.{UNIT[m.group(2)]}"),
    (r"aspp/image_pool/(conv|norm)", lambda m: f"classifier.0.convs.4.{'1' if m.group(1) == 'conv' else '2'}"),
    (r"aspp/project/(conv|norm)", lambda m: f"classifier.0.project.{UNIT[m.group(1)]}"),
    (r"head_conv/(conv|norm)", lambda m: f"classifier.{'1' if m.group(1) == 'conv' else '2'}"),
    (r"classifier", "classifier.4"),
)
AUX_CLASSIFIER = (r"aux_classifier\..*",)


def _family(name: str, model: str, rules, head: str) -> Family:
    def torch_modules(paths, shapes) -> dict[str, TorchModule]:
        return map_all(paths, rules, name)

    source = f"torchvision.models.segmentation.{model} (weights=...)"
    return register_family(Family(name, (model,), torch_modules, source, dropped=AUX_CLASSIFIER, head=head))


FCN = _family("FCN-ResNet50", "fcn_resnet50", FCN_RULES, "score_stage4")
DEEPLABV3 = _family("DeepLabV3-ResNet50", "deeplabv3_resnet50", DEEPLAB_RULES, "classifier")

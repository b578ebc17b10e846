"""The base of the zoo's segmentation models, and of those built on a registered classifier.

Output-size rule: a segmenter maps ``(N, H, W, in_channels)`` images to ``(N, H, W, num_classes)``
per-pixel logits with exactly the input's height and width, for ANY ``H, W >= min_input_size``
(odd sizes included): models with an output stride upsample their coarse logits bilinearly to
``(H, W)``; U-Net pads the input to a multiple of its stride and crops the logits back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from flax.core import FrozenDict

from cnnjax.models.classifier import Features, ImageModel
from cnnjax.models.registry import create_model, model_task


class Segmenter(ImageModel):
    """Base of the segmentation models: :class:`~cnnjax.models.classifier.ImageModel` (same fields,
    input checks and ``apply(..., return_features=True)``) whose logits are ``(N, H, W,
    num_classes)`` at the input's size (module docstring)."""


class BackboneSegmenter(Segmenter):
    """A segmenter on the named features of a registered classifier.

    ``backbone`` is a registered classification model, built headless (``num_classes=0``) as the
    submodule ``backbone``, so its parameters are the classifier's minus ``head`` and ImageNet
    weights load unchanged.  ``backbone_overrides`` reach its constructor (e.g. ``{'stage_sizes':
    (1, 1, 1, 1), 'width': 8}`` to shrink it); dtypes, ``in_channels``, ``bn_axis_name``, ``bn_group_size``,
    ``platform``, ``conv_implementation`` and ``remat`` are the segmenter's.  Inputs below the backbone's
    ``min_input_size`` (1 for ResNets) fail its own check.
    """

    has_blocks: ClassVar[bool] = True  # the backbone's, which checks `remat` itself

    backbone: str = "resnet18"
    backbone_overrides: Mapping[str, Any] = FrozenDict()

    def backbone_features(self, x, train: bool, names: Sequence[str], **overrides) -> Features:
        """The backbone's features dict (without its pooled ``pre_logits``), checked to hold
        ``names``; ``overrides`` are added to ``backbone_overrides`` (a key in both raises)."""
        if model_task(self.backbone) != "classification":
            self.fail(f"backbone must be a classification model, got {self.backbone!r}")
        clash = sorted(set(overrides) & set(self.backbone_overrides))
        if clash:
            self.fail(f"set {clash} on the {type(self).__name__}, not in backbone_overrides")
        model = create_model(
            self.backbone,
            num_classes=0,
            in_channels=self.in_channels,
            bn_axis_name=self.bn_axis_name,
            bn_group_size=self.bn_group_size,
            platform=self.platform,
            conv_implementation=self.conv_implementation,
            remat=self.remat,
            **self.dtypes,
            **self.backbone_overrides,
            **overrides,
        ).clone(parent=self, name="backbone")
        _, features = model(x, train=train, return_features=True)
        missing = [n for n in names if n not in features]
        if missing:
            self.fail(f"backbone {self.backbone!r} has no features {missing}; it gives {sorted(features)}")
        return {k: v for k, v in features.items() if k != "pre_logits"}

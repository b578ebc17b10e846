"""Fully convolutional networks (Long, Shelhamer & Darrell, 2015, arXiv:1411.4038) on any
registered classifier that returns stage features.

FCN-32s scores the deepest stage with a 1x1 conv; FCN-16s / FCN-8s add 1x1-conv scores of the
two shallower ``stages`` (1/16, 1/8): the coarser scores are upsampled x2 by a learned
:class:`~cnnjax.layers.transposed_conv.ConvTranspose` (4x4, stride 2, padding 1, no bias),
initialised to bilinear interpolation as in the paper, cropped (or edge-padded by one pixel for
floor-halving backbones) to the finer map and added.  Score layers start at zero, as in the paper.
The fused scores are then resized bilinearly to the input size.

Differences from the paper: ResNet backbones (the paper converts VGG-16's fc6/fc7 into convs), no
100-pixel input padding and offset crops (the stages are aligned at the top left), and the final
upsampling is a bilinear resize to the exact input size instead of a fixed bilinear x8/x16/x32
transposed conv plus crop.  ``head_channels`` (``fcn_resnet50``) puts torchvision's ``FCNHead``
before the score layer: 3x3 conv (no bias) -> BN -> ReLU -> dropout 0.1; torchvision's model is
that head on a ResNet-50 dilated to output stride 8 (no auxiliary head here).

Parameters, 21 classes: ``fcn32s_resnet18`` 11,187,285, ``fcn16s_resnet18`` 11,199,738,
``fcn8s_resnet18`` 11,209,503, ``fcn_resnet50`` 32,957,013 (= torchvision's 35,322,218 minus its
2,365,205-parameter auxiliary head).

Features: the backbone's (``stem``, ``stage1`` ...), ``pre_logits`` (what the deepest score layer
sees) and ``scores`` (the fused logits before the final resize).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from cnnjax.layers import ConvNormAct, Dropout
from cnnjax.layers.transposed_conv import ConvTranspose
from cnnjax.layers.upsampling import resize_bilinear
from cnnjax.models.registry import register_model
from cnnjax.models.segmenter import BackboneSegmenter

SKIPS = {"fcn32s": 0, "fcn16s": 1, "fcn8s": 2}


def bilinear_kernel_init(key, shape, dtype=jnp.float32):
    """A ``(k, k, C, C)`` transposed-conv kernel that upsamples each channel bilinearly (FCN's
    ``upsample_filt``); e.g. k=4 gives the taps (1, 3, 3, 1) / 4 per axis."""
    k, kw, c_in, c_out = shape
    if k != kw or c_in != c_out:
        raise ValueError(f"bilinear init needs a square kernel and C_in == C_out, got shape {shape}")
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 else factor - 0.5
    taps = 1 - np.abs(np.arange(k) - center) / factor
    return jnp.asarray(np.outer(taps, taps)[:, :, None, None] * np.eye(c_in), dtype)


def _fit(x, size):
    """Crop ``x`` to ``size`` (height, width), or edge-pad it by at most one pixel."""
    x = x[:, : size[0], : size[1]]
    pads = [t - n for t, n in zip(size, x.shape[1:3])]
    return jnp.pad(x, ((0, 0), *((0, p) for p in pads), (0, 0)), mode="edge") if any(pads) else x


class FCN(BackboneSegmenter):
    """FCN-32s / -16s / -8s (``skips``) on the backbone's ``stages`` (deepest first, at strides
    32, 16, 8: ``('stage4', 'stage3', 'stage2')`` for ResNets, ``('stage5', 'stage4', 'stage3')``
    for VGG); ``head_channels`` adds torchvision's FCN head.  Skip fusion needs each shallower stage
    at twice the resolution (so use ``fcn32s`` on a dilated backbone)."""

    skips: str = "fcn32s"
    stages: Sequence[str] = ("stage4", "stage3", "stage2")
    head_channels: int | None = None
    dropout_rate: float = 0.1

    def forward(self, x, train):
        self.check_choice("skips", self.skips, sorted(SKIPS))
        stages = tuple(self.stages)[: SKIPS[self.skips] + 1]
        if len(stages) != SKIPS[self.skips] + 1:
            self.fail(f"{self.skips} needs {SKIPS[self.skips] + 1} stages, got {tuple(self.stages)}")
        features = self.backbone_features(x, train, stages)
        score = functools.partial(self.conv, self.num_classes, 1, kernel_init=nn.initializers.zeros)
        upsample = self.with_dtypes(ConvTranspose, kernel_init=bilinear_kernel_init)
        y = features[stages[0]]
        if self.head_channels:
            norm = self.norm(train)
            y = ConvNormAct(self.head_channels, 3, padding=1, conv=self.conv, norm=norm, name="head_conv")(y)
            y = Dropout(self.dropout_rate, deterministic=not train)(y)
        features["pre_logits"] = y
        y = score(name=f"score_{stages[0]}")(y)
        for name in stages[1:]:
            skip = features[name]
            if not all(2 * c - 1 <= f <= 2 * c + 1 for c, f in zip(y.shape[1:3], skip.shape[1:3])):
                self.fail(
                    f"{name} ({skip.shape[1:3]}) is not at twice the resolution of the coarser scores "
                    f"({y.shape[1:3]}); skip fusion needs an undilated backbone"
                )
            up = upsample(self.num_classes, 4, strides=2, padding=1, use_bias=False, name=f"upsample_{name}")
            y = _fit(up(y), skip.shape[1:3]) + score(name=f"score_{name}")(skip)
        features["scores"] = y
        return resize_bilinear(y, x.shape[1:3]), features


for _skips in SKIPS:
    register_model(f"{_skips}_resnet18", task="segmentation")(functools.partial(FCN, backbone="resnet18", skips=_skips))
register_model("fcn_resnet50", task="segmentation")(
    functools.partial(FCN, backbone="resnet50", backbone_overrides={"output_stride": 8}, head_channels=512)
)

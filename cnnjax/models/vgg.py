"""VGG (Simonyan & Zisserman, 2015) as in torchvision: configurations A / B / D / E, with or
without BatchNorm."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn

from cnnjax.layers import adaptive_avg_pool, max_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

# torchvision's cfgs: ints are 3x3 conv widths, "M" a 2x2 / stride-2 max-pool.
VGG_CFGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
_DEPTHS = {"A": 11, "B": 13, "D": 16, "E": 19}

# torchvision's Linear init for VGG: N(0, 0.01), zero bias.
dense_init = nn.initializers.normal(0.01)


class VGG(Classifier):
    """torchvision's VGG: the ``cfg`` conv stack, adaptive average pool to ``pool_size`` x
    ``pool_size`` (7), then Dense 4096 -> ReLU -> dropout 0.5 -> Dense 4096 -> ReLU -> dropout
    0.5 -> Dense ``num_classes``.

    Every conv is 3x3, padding 1, with bias (kept even before BatchNorm, as torchvision).
    ``use_bn`` inserts BatchNorm between each conv and its ReLU (the ``_bn`` variants: not in the
    paper, added by torchvision).  Differences from the paper: the adaptive pool (the paper's
    fully-convolutional evaluation on arbitrary sizes is replaced by pooling to 7x7, so the
    classifier accepts any input >= 32), no local response norm in config A-LRN, dropout
    placement as torchvision (after each hidden FC layer), and He (fan-out) / N(0, 0.01) init
    instead of the paper's staged initialisation from the shallower net.

    ``cfg`` / ``pool_size`` / ``hidden_features`` may be overridden to shrink the net (tests).
    Features: ``stage1`` ... ``stage5`` after each max-pool, ``pre_logits`` before the
    last Dense.  ``min_input_size`` = 32: five floor-halving max-pools.
    """

    cfg: Sequence[int | str] = VGG_CFGS["D"]
    use_bn: bool = False
    pool_size: int = 7
    hidden_features: int = 4096
    dropout_rate: float = 0.5

    min_input_size: ClassVar[int] = 32

    def forward(self, x, train):
        norm = self.norm(train)
        features = {}
        stage, conv = 1, 1
        for item in self.cfg:
            if item == "M":
                x = max_pool(x, 2)
                features[f"stage{stage}"] = x
                stage, conv = stage + 1, 1
                continue
            x = self.conv(int(item), 3, padding=1, use_bias=True, name=f"stage{stage}_conv{conv}")(x)
            if self.use_bn:
                x = norm(name=f"stage{stage}_bn{conv}")(x)
            x = nn.relu(x)
            conv += 1
        logits, features["pre_logits"] = self.dense_head(x, train)
        return logits, features

    def dense_head(self, x, train):
        """Last map -> (logits, pre-logits): adaptive pool, flatten, the two hidden FC layers, the head
        (:class:`~cnnjax.inspect.convolutionalize.DenseHeadModel`)."""
        x = adaptive_avg_pool(x, self.pool_size)
        x = x.reshape(x.shape[0], -1)  # NHWC flatten (torchvision flattens NCHW: permute to port)
        for i in (1, 2):
            x = self.dense(self.hidden_features, kernel_init=dense_init, name=f"fc{i}")(x)
            x = nn.relu(x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.head(x, kernel_init=dense_init), x


for _cfg, _depth in _DEPTHS.items():
    register_model(f"vgg{_depth}")(functools.partial(VGG, cfg=VGG_CFGS[_cfg]))
    register_model(f"vgg{_depth}_bn")(functools.partial(VGG, cfg=VGG_CFGS[_cfg], use_bn=True))

"""A small VGG-style plain CNN."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn

from cnnjax.layers import ConvNormAct, global_avg_pool, max_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model


@register_model("simple_cnn")
class SimpleCNN(Classifier):
    """Stages of [3x3 conv (padding 1, no bias) -> BN -> ReLU] x ``convs_per_stage``, each followed
    by a 2x2 max-pool, then global average pool -> dropout -> dense.

    ``min_input_size`` = 2 ** len(widths) (8 for the default widths); unlike the other models it
    depends on the configuration, so it is an instance property.  Features: ``stage1`` ...
    (after each pool), ``pre_logits``.
    """

    widths: Sequence[int] = (32, 64, 128)
    convs_per_stage: int = 2
    dropout_rate: float = 0.0

    @property
    def min_input_size(self) -> int:
        return 2 ** len(self.widths)

    def forward(self, x, train):
        layer = functools.partial(ConvNormAct, kernel_size=3, padding=1, conv=self.conv, norm=self.norm(train))
        features = {}
        for stage, width in enumerate(self.widths, start=1):
            for i in range(1, self.convs_per_stage + 1):
                x = layer(width, name=f"stage{stage}_conv{i}")(x)
            x = max_pool(x, 2)
            features[f"stage{stage}"] = x
        x = features["pre_logits"] = global_avg_pool(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.head(x), features

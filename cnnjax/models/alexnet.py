"""AlexNet (Krizhevsky et al., 2012) as in torchvision: the single-tower "one weird trick"
variant (Krizhevsky, 2014)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn

from cnnjax.layers import Conv, max_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model
from cnnjax.models.vgg import adaptive_avg_pool

# (kernel, stride, padding, max-pool after) of the five convs, as torchvision.
_CONVS = ((11, 4, 2, True), (5, 1, 2, True), (3, 1, 1, False), (3, 1, 1, False), (3, 1, 1, True))


@register_model("alexnet")
class AlexNet(Classifier):
    """torchvision's AlexNet: conv 11x11/4 pad 2 (64) -> pool -> conv 5x5 pad 2 (192) -> pool ->
    conv 3x3 pad 1 (384, 256, 256) -> pool, every conv with bias and ReLU, pools 3x3 / stride 2;
    adaptive average pool to 6x6; dropout 0.5 -> Dense 4096 -> ReLU -> dropout 0.5 -> Dense 4096
    -> ReLU -> Dense ``num_classes``.

    Differences from the paper: one tower with 64-192-384-256-256 filters instead of two GPU
    towers of 48-128-192-192-128 each (the 2014 single-GPU variant), no local response
    normalisation, padding 2 on the first conv (224 inputs instead of 227), the adaptive pool
    before the classifier, and framework-default init instead of N(0, 0.01) with biases of 1.

    ``widths`` / ``pool_size`` / ``hidden_features`` may be overridden to shrink the net
    (tests).  Features: ``stem`` (after conv1 and its pool), ``stage2`` (after conv2 and its
    pool), ``stage3`` (after conv5 and the last pool), ``pre_logits``.  ``min_input_size`` = 63:
    63 -> conv1 15 -> pool 7 -> pool 3 -> pool 1.
    """

    widths: Sequence[int] = (64, 192, 384, 256, 256)
    pool_size: int = 6
    hidden_features: int = 4096
    dropout_rate: float = 0.5

    min_input_size: ClassVar[int] = 63

    def forward(self, x, train):
        dt = self.dtypes
        features = {}
        names = iter(("stem", "stage2", "stage3"))
        for i, (width, (kernel, stride, pad, pool)) in enumerate(zip(self.widths, _CONVS, strict=True), start=1):
            x = nn.relu(Conv(width, kernel, strides=stride, padding=pad, name=f"conv{i}", **dt)(x))
            if pool:
                x = max_pool(x, 3, strides=2)
                features[next(names)] = x
        x = adaptive_avg_pool(x, self.pool_size)
        x = x.reshape(x.shape[0], -1)  # NHWC flatten (torchvision flattens NCHW: permute to port)
        for i in (1, 2):
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
            x = nn.relu(nn.Dense(self.hidden_features, name=f"fc{i}", **dt)(x))
        features["pre_logits"] = x
        return self.head(x), features

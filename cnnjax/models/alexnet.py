"""AlexNet (Krizhevsky et al., 2012): torchvision's single-tower "one weird trick" variant
(Krizhevsky, 2014), and the paper's two-tower net."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import adaptive_avg_pool, max_pool
from cnnjax.layers.local_response_norm import local_response_norm
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

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
        features = {}
        names = iter(("stem", "stage2", "stage3"))
        for i, (width, (kernel, stride, pad, pool)) in enumerate(zip(self.widths, _CONVS, strict=True), start=1):
            x = nn.relu(self.conv(width, kernel, strides=stride, padding=pad, name=f"conv{i}")(x))
            if pool:
                x = max_pool(x, 3, strides=2)
                features[next(names)] = x
        logits, features["pre_logits"] = self.dense_head(x, train)
        return logits, features

    def dense_head(self, x, train):
        """Last map -> (logits, pre-logits): adaptive pool, flatten, the two hidden FC layers, the head
        (:class:`~cnnjax.inspect.convolutionalize.DenseHeadModel`)."""
        x = adaptive_avg_pool(x, self.pool_size)
        x = x.reshape(x.shape[0], -1)  # NHWC flatten (torchvision flattens NCHW: permute to port)
        for i in (1, 2):
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
            x = nn.relu(self.dense(self.hidden_features, name=f"fc{i}")(x))
        return self.head(x), x


# The paper's convs: (kernel, stride, padding, groups (towers), bias init, LRN after, max-pool after).
_PAPER_CONVS = (
    (11, 4, 0, 1, 0.0, True, True),
    (5, 1, 2, 2, 1.0, True, True),
    (3, 1, 1, 1, 0.0, False, False),
    (3, 1, 1, 2, 1.0, False, False),
    (3, 1, 1, 2, 1.0, False, True),
)
_paper_init = nn.initializers.normal(0.01)


@register_model("alexnet_paper")
class AlexNetPaper(Classifier):
    """The paper's AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012), two GPU towers.

    227x227 input (the paper's "224" does not fit conv1's arithmetic) -> conv1 11x11/4 (96 = two
    towers of 48, both seeing the whole image) -> ReLU -> LRN -> max-pool 3x3/2 -> conv2 5x5 pad 2
    (256, groups 2: each tower sees only its own 48 channels) -> ReLU -> LRN -> max-pool -> conv3
    3x3 (384, connected across towers) -> conv4 3x3 (384, groups 2) -> conv5 3x3 (256, groups 2)
    -> max-pool (overlapping 3x3/2 pools) -> flatten 6x6x256 -> Dense 4096 -> ReLU -> dropout 0.5
    -> Dense 4096 -> ReLU -> dropout 0.5 -> Dense ``num_classes``.  A tower is a contiguous half
    of the channels; the LRN (paper formula: k 2, n 5, alpha 1e-4 not divided by n, beta 0.75)
    normalises within each tower.  Init as the paper: weights N(0, 0.01), biases 1 in conv2,
    conv4, conv5 and the hidden Dense layers, 0 elsewhere.

    Parameters with 1000 classes at 227 px: 60,965,224 (weights + biases):
    conv1 11*11*3*96 + 96 = 34,944; conv2 5*5*48*256 + 256 = 307,456; conv3 3*3*256*384 + 384 =
    885,120; conv4 3*3*192*384 + 384 = 663,936; conv5 3*3*192*256 + 256 = 442,624; fc6
    9216*4096 + 4096 = 37,752,832; fc7 4096*4096 + 4096 = 16,781,312; fc8 4096*1000 + 1000 =
    4,097,000.  Inputs of 227-258 px give the same 6x6 map; other sizes change fc6's input size
    (no adaptive pool, as the paper).  ``widths`` (even: two towers) / ``hidden_features`` may be
    overridden to shrink the net (tests).  Features as :class:`AlexNet`.  ``min_input_size`` =
    67: 67 -> conv1 15 -> pool 7 -> pool 3 -> pool 1.
    """

    widths: Sequence[int] = (96, 256, 384, 384, 256)
    hidden_features: int = 4096
    dropout_rate: float = 0.5

    min_input_size: ClassVar[int] = 67

    def forward(self, x, train):
        conv = functools.partial(self.conv, kernel_init=_paper_init)
        features = {}
        names = iter(("stem", "stage2", "stage3"))
        for i, (width, layer) in enumerate(zip(self.widths, _PAPER_CONVS, strict=True), start=1):
            kernel, stride, pad, groups, bias, lrn, pool = layer
            bias_init = nn.initializers.constant(bias)
            x = conv(width, kernel, strides=stride, padding=pad, groups=groups, bias_init=bias_init, name=f"conv{i}")(x)
            x = nn.relu(x)
            if lrn:
                towers = jnp.split(x, 2, axis=-1)
                x = jnp.concatenate([local_response_norm(t, alpha_over_size=False) for t in towers], axis=-1)
            if pool:
                x = max_pool(x, 3, strides=2)
                features[next(names)] = x
        logits, features["pre_logits"] = self.dense_head(x, train)
        return logits, features

    def dense_head(self, x, train):
        """Last map -> (logits, pre-logits): flatten, fc6, fc7, the head
        (:class:`~cnnjax.inspect.convolutionalize.DenseHeadModel`)."""
        dense = functools.partial(self.dense, kernel_init=_paper_init)
        x = x.reshape(x.shape[0], -1)  # NHWC flatten
        for i in (6, 7):
            x = nn.relu(dense(self.hidden_features, bias_init=nn.initializers.ones, name=f"fc{i}")(x))
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.head(x, kernel_init=_paper_init), x

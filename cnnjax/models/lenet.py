"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition")."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn

from cnnjax.layers import avg_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model


@register_model("lenet5")
class LeNet5(Classifier):
    """C1 conv5x5 6 -> act -> S2 2x2 pool -> C3 conv5x5 16 -> act -> S4 pool -> F5 dense 120 ->
    act -> F6 dense 84 -> act -> dense num_classes; valid convs, 32x32 inputs as in the paper.

    Departures from the paper: C3 is fully connected to S2 (the paper's partial connection table
    is not reproduced), subsampling has no trainable coefficient/bias, the output layer is dense
    (not RBF), and the default activation is plain ``tanh`` (the paper scales it,
    1.7159 tanh(2a/3)).  With in_channels=1 and 10 classes it has 61,706 parameters.

    F5 is a dense layer on the flattened S4 map, so trained parameters fix the input size: applying
    them to another size raises a ``ValueError`` naming both sizes.  ``min_input_size`` = 16:
    16 -> C1 12 -> S2 6 -> C3 2 -> S4 1; 15 -> 11 -> 5 -> 1 is too small for S4.
    Features: ``s4``, ``pre_logits`` (F6's output).
    """

    min_input_size: ClassVar[int] = 16

    activation: Callable = nn.tanh
    pool: Callable = avg_pool  # called as pool(x, 2): 2x2 windows, stride 2

    def forward(self, x, train):
        conv = functools.partial(self.conv, kernel_size=5, padding="valid", kernel_init=nn.initializers.lecun_normal())
        x = self.pool(self.activation(conv(6, name="c1")(x)), 2)
        x = self.pool(self.activation(conv(16, name="c3")(x)), 2)
        logits, pre_logits = self.dense_head(x, train)
        return logits, {"s4": x, "pre_logits": pre_logits}

    def dense_head(self, x, train):
        """S4 map -> (logits, F6's output): flatten, F5, F6, output
        (:class:`~cnnjax.inspect.convolutionalize.DenseHeadModel`)."""
        height, width, channels = x.shape[1:]
        x = x.reshape(x.shape[0], -1)
        if self.has_variable("params", "f5"):
            expected = self.variables["params"]["f5"]["kernel"].shape[0]
            if x.shape[-1] != expected:
                self.fail(
                    f"these parameters were initialised for inputs whose S4 map has {expected} values; these "
                    f"images give a {height}x{width}x{channels} S4 map ({x.shape[-1]} values): resize the images "
                    "to the size used at init"
                )
        x = self.activation(self.dense(120, name="f5")(x))
        x = self.activation(self.dense(84, name="f6")(x))
        return self.dense(self.num_classes, name="output")(x), x

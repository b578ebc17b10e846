"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition")."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype

from cnnjax.layers import Conv, avg_pool
from cnnjax.models.input_checks import check_image_batch
from cnnjax.models.registry import register_model


@register_model("lenet5")
class LeNet5(nn.Module):
    """C1 conv5x5 6 -> act -> S2 2x2 pool -> C3 conv5x5 16 -> act -> S4 pool -> F5 dense 120 ->
    act -> F6 dense 84 -> act -> dense num_classes; valid convs, 32x32 inputs as in the paper.

    Departures from the paper: C3 is fully connected to S2 (the paper's partial connection table
    is not reproduced), subsampling has no trainable coefficient/bias, the output layer is dense
    (not RBF), and the default activation is plain ``tanh`` (the paper scales it,
    1.7159 tanh(2a/3)).  With in_channels=1 and 10 classes it has 61,706 parameters.

    ``min_input_size`` = 16: 16 -> C1 12 -> S2 6 -> C3 2 -> S4 1; 15 -> 11 -> 5 -> 1 is too small
    for S4.
    ``bn_axis_name`` is accepted for a uniform model interface; LeNet has no BatchNorm.
    """

    min_input_size: ClassVar[int] = 16

    num_classes: int
    in_channels: int = 3
    activation: Callable = nn.tanh
    pool: Callable = avg_pool  # called as pool(x, 2): 2x2 windows, stride 2
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        check_image_batch(x, in_channels=self.in_channels, min_size=self.min_input_size, model_name=type(self).__name__)
        conv = dict(
            kernel_size=5,
            padding="valid",
            kernel_init=nn.initializers.lecun_normal(),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
        )
        dense = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        x = self.pool(self.activation(Conv(6, name="c1", **conv)(x)), 2)
        x = self.pool(self.activation(Conv(16, name="c3", **conv)(x)), 2)
        self.sow("intermediates", "s4", x)
        x = x.reshape(x.shape[0], -1)
        x = self.activation(nn.Dense(120, name="f5", **dense)(x))
        x = self.activation(nn.Dense(84, name="f6", **dense)(x))
        return nn.Dense(self.num_classes, name="output", **dense)(x)

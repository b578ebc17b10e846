"""A small VGG-style plain CNN."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype

from cnnjax.layers import ConvNormAct, batch_norm, global_avg_pool, max_pool
from cnnjax.models.input_checks import check_image_batch
from cnnjax.models.registry import register_model


@register_model("simple_cnn")
class SimpleCNN(nn.Module):
    """Stages of [3x3 conv (padding 1, no bias) -> BN -> ReLU] x ``convs_per_stage``, each followed
    by a 2x2 max-pool, then global average pool -> dropout -> dense.

    ``min_input_size`` = 2 ** len(widths) (8 for the default widths); unlike the other models it
    depends on the configuration, so it is an instance property.
    """

    num_classes: int
    in_channels: int = 3
    widths: Sequence[int] = (32, 64, 128)
    convs_per_stage: int = 2
    dropout_rate: float = 0.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    @property
    def min_input_size(self) -> int:
        return 2 ** len(self.widths)

    @nn.compact
    def __call__(self, x, train: bool = False):
        check_image_batch(x, in_channels=self.in_channels, min_size=self.min_input_size, model_name=type(self).__name__)
        norm = batch_norm(train, self.bn_axis_name)
        for stage, width in enumerate(self.widths, start=1):
            for i in range(1, self.convs_per_stage + 1):
                x = ConvNormAct(
                    width,
                    3,
                    padding=1,
                    norm=norm,
                    dtype=self.dtype,
                    param_dtype=self.param_dtype,
                    name=f"stage{stage}_conv{i}",
                )(x)
            x = max_pool(x, 2)
            self.sow("intermediates", f"stage{stage}", x)
        x = global_avg_pool(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="head")(x)

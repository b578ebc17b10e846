"""U-Net (Ronneberger, Fischer & Brox, 2015, arXiv:1505.04597).

Encoder of ``depth`` levels, each two 3x3 conv-(BN)-ReLU then a 2x2 max-pool, with ``width *
2**level`` channels (64 .. 512 in the paper), a bottleneck of two 3x3 convs (1024); the decoder
upsamples x2 to half the channels, concatenates the encoder's features of that level (skip first)
and applies two 3x3 conv-(BN)-ReLU; a 1x1 conv gives the logits.  ``decoder='transposed'``
upsamples with a 2x2 stride-2 :class:`~cnnjax.layers.transposed_conv.ConvTranspose` (the paper's
up-convolution), ``'upsample'`` with a bilinear x2 resize then a 1x1 conv.

Any input size: the input is reflect-padded (the paper's mirroring of the missing context),
split evenly between both sides, up to a multiple of ``2**depth``, and the logits are cropped back.

Differences from the paper: 'same' padded convs (the paper's valid convs shrink each level and
crop the skips, so a 572x572 tile gives 388x388 logits), BatchNorm after each conv by default
(``use_bn``; the paper has none, and then the convs have biases), He fan-out init as the rest of
the zoo (the paper: fan-in), no dropout at the end of the encoder.

Parameters with 2 classes: ``unet`` (width 64, depth 4) 31,037,698 with BatchNorm, 31,031,810
without; ``unet_small`` (width 16, depth 3) 482,754.

Features: ``encoder1`` .. ``encoder{depth}`` (before each pool), ``bottleneck``, ``decoder{depth}``
.. ``decoder1`` (on the padded grid), ``pre_logits`` (``decoder1`` cropped to the input size).
"""

from __future__ import annotations

import functools

import jax.numpy as jnp

from cnnjax.layers import ConvNormAct, max_pool
from cnnjax.layers.transposed_conv import ConvTranspose
from cnnjax.layers.upsampling import resize_bilinear
from cnnjax.models.registry import register_model
from cnnjax.models.segmenter import Segmenter

DECODERS = ("transposed", "upsample")


class UNet(Segmenter):
    """U-Net with ``depth`` poolings, ``width`` first-level channels, ``decoder`` in
    :data:`DECODERS` and ``use_bn``; ``min_input_size`` = 1 (see the module docstring)."""

    depth: int = 4
    width: int = 64
    decoder: str = "transposed"
    use_bn: bool = True

    def forward(self, x, train):
        if self.depth < 1:
            self.fail(f"depth must be >= 1, got {self.depth}")
        self.check_choice("decoder", self.decoder, DECODERS)
        layer = functools.partial(ConvNormAct, conv=self.conv, norm=self.norm(train) if self.use_bn else None)

        def double_conv(y, channels, name):
            for i in (1, 2):
                y = layer(channels, 3, padding=1, name=f"{name}_conv{i}")(y)
            return y

        size = x.shape[1:3]
        pads = [(t // 2, t - t // 2) for t in (-n % 2**self.depth for n in size)]
        y = jnp.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect")
        features, skips = {}, []
        for level in range(1, self.depth + 1):
            y = features[f"encoder{level}"] = double_conv(y, self.width * 2 ** (level - 1), f"encoder{level}")
            skips.append(y)
            y = max_pool(y, 2)
        y = features["bottleneck"] = double_conv(y, self.width * 2**self.depth, "bottleneck")
        for level in range(self.depth, 0, -1):
            channels = self.width * 2 ** (level - 1)
            if self.decoder == "transposed":
                y = self.with_dtypes(ConvTranspose)(channels, 2, strides=2, name=f"decoder{level}_up")(y)
            else:
                y = resize_bilinear(y, (2 * y.shape[1], 2 * y.shape[2]))
                y = self.conv(channels, 1, name=f"decoder{level}_up")(y)
            y = jnp.concatenate([skips.pop(), y], axis=-1)
            y = features[f"decoder{level}"] = double_conv(y, channels, f"decoder{level}")
        (top, _), (left, _) = pads
        y = features["pre_logits"] = y[:, top : top + size[0], left : left + size[1]]
        return self.conv(self.num_classes, 1, name="classifier")(y), features


register_model("unet", task="segmentation")(UNet)
register_model("unet_small", task="segmentation")(functools.partial(UNet, width=16, depth=3))

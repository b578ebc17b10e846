"""Layers: convolution with explicit padding arithmetic, conv-norm-act blocks, pooling."""

from flax.linen import Dropout

from cnnjax.layers.blocks import ConvNormAct, batch_norm
from cnnjax.layers.conv import Conv, he_fan_out_normal
from cnnjax.layers.conv_arithmetic import conv_output_size, per_dim, resolve_padding, resolve_padding_nd
from cnnjax.layers.pooling import avg_pool, global_avg_pool, max_pool
from cnnjax.layers.transposed_conv import ConvTranspose, conv_transpose, transposed_conv_output_size
from cnnjax.layers.upsampling import UpsampleConv, resize_bilinear, upsample_nearest

__all__ = [
    "Conv",
    "ConvNormAct",
    "ConvTranspose",
    "Dropout",
    "UpsampleConv",
    "avg_pool",
    "batch_norm",
    "conv_output_size",
    "conv_transpose",
    "global_avg_pool",
    "he_fan_out_normal",
    "max_pool",
    "per_dim",
    "resize_bilinear",
    "resolve_padding",
    "resolve_padding_nd",
    "transposed_conv_output_size",
    "upsample_nearest",
]

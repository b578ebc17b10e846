"""Layers: convolution with explicit padding arithmetic and fast CPU paths, conv-norm-act blocks, pooling."""

from flax.linen import Dropout

from cnnjax.layers.blocks import ConvNormAct, ModuleDef, batch_norm
from cnnjax.layers.channels import make_divisible
from cnnjax.layers.chunked_conv import chunked_wgrad_conv
from cnnjax.layers.conv import Conv, he_fan_out_normal
from cnnjax.layers.conv_arithmetic import conv_output_size, per_dim, resolve_padding, resolve_padding_nd
from cnnjax.layers.conv_dispatch import (
    IMPLEMENTATIONS,
    conv2d,
    resolve_implementation,
    select_implementation,
)
from cnnjax.layers.conv_target import PLATFORMS, TARGET_IMPLEMENTATIONS, conv_target
from cnnjax.layers.depthwise_conv import depthwise_shift_conv
from cnnjax.layers.grouped_batch_norm import GroupedBatchNorm
from cnnjax.layers.grouped_conv import grouped_split_conv
from cnnjax.layers.pooling import adaptive_avg_pool, avg_pool, global_avg_pool, max_pool
from cnnjax.layers.transposed_conv import ConvTranspose, conv_transpose, transposed_conv_output_size
from cnnjax.layers.upsampling import UpsampleConv, resize_bilinear, upsample_nearest

__all__ = [
    "IMPLEMENTATIONS",
    "PLATFORMS",
    "TARGET_IMPLEMENTATIONS",
    "Conv",
    "ConvNormAct",
    "ConvTranspose",
    "GroupedBatchNorm",
    "Dropout",
    "ModuleDef",
    "UpsampleConv",
    "adaptive_avg_pool",
    "avg_pool",
    "batch_norm",
    "chunked_wgrad_conv",
    "conv2d",
    "conv_output_size",
    "conv_target",
    "depthwise_shift_conv",
    "conv_transpose",
    "global_avg_pool",
    "grouped_split_conv",
    "he_fan_out_normal",
    "make_divisible",
    "max_pool",
    "per_dim",
    "resize_bilinear",
    "resolve_padding",
    "resolve_implementation",
    "resolve_padding_nd",
    "select_implementation",
    "transposed_conv_output_size",
    "upsample_nearest",
]

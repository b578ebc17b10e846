"""Layers: convolution with explicit padding arithmetic and fast CPU paths, conv-norm-act blocks, pooling."""

from flax.linen import Dropout

from cnnjax.layers.blocks import ConvNormAct, ModuleDef, batch_norm
from cnnjax.layers.channels import make_divisible
from cnnjax.layers.conv import Conv, conv_nd, he_fan_out_normal
from cnnjax.layers.conv_arithmetic import (
    conv_output_size,
    per_dim,
    resolve_padding,
    resolve_padding_nd,
    transposed_conv_output_size,
)
from cnnjax.layers.conv_call import ConvCall, ConvImplementationError
from cnnjax.layers.conv_dispatch import IMPLEMENTATIONS, NAMES, select
from cnnjax.layers.conv_target import PLATFORMS, conv_target
from cnnjax.layers.grouped_batch_norm import GroupedBatchNorm
from cnnjax.layers.pooling import adaptive_avg_pool, avg_pool, global_avg_pool, max_pool
from cnnjax.layers.transposed_conv import ConvTranspose, conv_transpose
from cnnjax.layers.upsampling import UpsampleConv, resize_bilinear, upsample_nearest

__all__ = [
    "IMPLEMENTATIONS",
    "NAMES",
    "PLATFORMS",
    "Conv",
    "ConvCall",
    "ConvImplementationError",
    "ConvNormAct",
    "ConvTranspose",
    "GroupedBatchNorm",
    "Dropout",
    "ModuleDef",
    "UpsampleConv",
    "adaptive_avg_pool",
    "avg_pool",
    "batch_norm",
    "conv_nd",
    "conv_output_size",
    "conv_target",
    "conv_transpose",
    "global_avg_pool",
    "he_fan_out_normal",
    "make_divisible",
    "max_pool",
    "per_dim",
    "resize_bilinear",
    "resolve_padding",
    "resolve_padding_nd",
    "select",
    "transposed_conv_output_size",
    "upsample_nearest",
]

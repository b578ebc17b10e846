"""A model's convolution kernels, and how they are drawn.

A conv layer is a module whose parameters hold a 4-D ``kernel`` (kh, kw, C_in, C_out) (forward, transposed,
grouped or depthwise convs; dense kernels are 2-D); conv layers are ordered as the forward pass runs them.
Drawn, a kernel keeps its sign: :func:`filter_tiles` maps w to ``0.5 + 0.5 · w / max|w|`` over the whole
layer, so 0.5 is a zero weight and the layer's filters share one scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cnnjax.errors import InvalidInputError
from cnnjax.inspect.layers import PixelModel, did_you_mean, layer_shapes

KERNEL = "kernel"


def conv_kernels(net: PixelModel, image_shape: Sequence[int]) -> dict[str, np.ndarray]:
    """{module path: kernel (kh, kw, C_in, C_out)} of every conv layer, in forward order."""
    kernels = {}
    for path in layer_shapes(net, image_shape):
        node = net.variables["params"]
        for name in path.split("/"):
            node = node.get(name, {}) if isinstance(node, Mapping) else {}
        kernel = node.get(KERNEL) if isinstance(node, Mapping) else None
        if kernel is not None and np.ndim(kernel) == 4:
            kernels[path] = np.asarray(kernel, np.float32)
    return kernels


def layer_kernel(net: PixelModel, image_shape: Sequence[int], layer: str | None = None) -> tuple[str, np.ndarray]:
    """(path, kernel) of conv layer ``layer``, by default the first; an unknown name raises ``InvalidInputError``
    listing the conv layers."""
    kernels = conv_kernels(net, image_shape)
    if not kernels:
        raise InvalidInputError(f"{type(net.model).__name__} has no conv layer")
    if layer is None:
        return next(iter(kernels.items()))
    if layer not in kernels:
        hint = did_you_mean(layer, kernels)
        raise InvalidInputError(f"{layer!r} is not a conv layer{hint} (conv layers: {', '.join(kernels)})")
    return layer, kernels[layer]


def filter_tiles(kernel: np.ndarray) -> np.ndarray:
    """(C_out, kh, kw, C_in) in [0, 1]: each output filter as an image, on the layer's shared signed scale."""
    scale = max(float(np.abs(kernel).max()), np.finfo(np.float32).tiny)
    return np.moveaxis(0.5 + 0.5 * kernel / scale, -1, 0)

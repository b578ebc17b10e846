"""One tensor between torch's layout and cnnjax's, both ways.

Rules (cnnjax leaf <- torch tensor of the mapped module, :class:`~cnnjax.pretrained.mapping.TorchModule`):

- ``kernel`` (4-D, a conv: H, W, in / groups, out) <- ``weight`` (out, in / groups, H, W): transposed
  (2, 3, 1, 0).  Grouped and depthwise convs need nothing more: both store in / groups input channels.
- ``kernel`` (2-D, a Dense: in, out) <- ``weight`` (out, in): transposed; from a 1x1 ``Conv2d``
  (``conv_1x1``: out, in, 1, 1) squeezed first; for a Linear fed by torch's NCHW flatten of a C x H x W map
  (``flattened_from``) the input rows are reordered to cnnjax's NHWC flatten.
- ``bias`` <- ``bias``; BatchNorm ``scale`` <- ``weight``, ``batch_stats`` ``mean`` / ``var`` <- ``running_mean`` /
  ``running_var``.  Both frameworks normalise with ``(x - mean) / sqrt(var + eps)``; eps is the model's
  (torchvision's: 1e-5, 1e-3 for GoogLeNet and EfficientNet B5-B7), and momentum plays no part in
  evaluation (torch's 0.1 is flax's 0.9).

:func:`to_torch` inverts :func:`from_torch` exactly (transposes and reshapes only), so a round trip is
bit-identical.
"""

from __future__ import annotations

import numpy as np

from cnnjax.pretrained.mapping import TorchModule

# cnnjax (collection, leaf) -> the torch tensor's name within the module
TORCH_LEAF = {
    ("params", "kernel"): "weight",
    ("params", "bias"): "bias",
    ("params", "scale"): "weight",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
NUM_BATCHES_TRACKED = "num_batches_tracked"  # written beside a BatchNorm's statistics for torch's strict load


def from_torch(tensor: np.ndarray, leaf: str, module: TorchModule) -> np.ndarray:
    """The cnnjax array of ``leaf`` from the torch tensor (module docstring)."""
    if leaf != "kernel":
        return tensor
    if tensor.ndim == 4 and not module.conv_1x1:
        return tensor.transpose(2, 3, 1, 0)
    if module.conv_1x1:
        tensor = tensor.reshape(tensor.shape[:2])
    if module.flattened_from is not None:
        c, h, w = module.flattened_from
        return tensor.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
    return tensor.T


def to_torch(array: np.ndarray, leaf: str, module: TorchModule) -> np.ndarray:
    """The torch tensor of ``leaf`` from the cnnjax array: :func:`from_torch` inverted."""
    if leaf != "kernel":
        return array
    if array.ndim == 4:
        return array.transpose(3, 2, 0, 1)
    if module.flattened_from is not None:
        c, h, w = module.flattened_from
        array = array.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(-1, c * h * w)
    else:
        array = array.T
    return array[:, :, None, None] if module.conv_1x1 else array

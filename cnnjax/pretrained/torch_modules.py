"""torchvision and timm imported beside the CPU build of torch.

torchvision's wheel links CUDA torch libraries, so with the CPU torch its C++ ops do not load and
``import torchvision`` fails registering fake kernels for ``torchvision::nms`` / ``qnms`` ("operator does not
exist").  Its models and transforms are pure Python: :func:`torchvision` declares the two op schemas first when
they are missing (and changes nothing where torchvision's ops loaded), then imports it; timm imports after it.
"""

from __future__ import annotations

import importlib

_OP_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # the torch.library.Library holding the declared schemas, kept alive with the process


def torchvision():
    """The ``torchvision`` module, importable with the CPU torch (module docstring)."""
    global _library
    import torch

    if _library is None and not _declared("nms"):
        _library = torch.library.Library("torchvision", "DEF")
        for schema in _OP_SCHEMAS:
            _library.define(schema)
    return importlib.import_module("torchvision")


def timm():
    """The ``timm`` module (after :func:`torchvision`, which it imports)."""
    torchvision()
    return importlib.import_module("timm")


def _declared(op: str) -> bool:
    import torch

    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{op}", "")
    except RuntimeError:
        return False
    return True

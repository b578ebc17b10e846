"""PyTorch state dicts as ``{key: numpy array}``: read from a ``.pth`` / ``.pt`` file (torch's pickle, read with
``torch.load(weights_only=True)``: no code from the file runs), a ``.safetensors`` file (read without torch), or an
in-memory mapping of torch tensors or arrays; written back as either format.

A file that holds a checkpoint wrapping the state dict (``{'state_dict': ...}`` or ``{'model': ...}``, as
training scripts save) is unwrapped.  Values keep their dtype (a float16 checkpoint stays float16 until
conversion casts it to the model's ``param_dtype``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import numpy as np

from cnnjax.errors import InvalidInputError

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
_WRAPPER_KEYS = ("state_dict", "model", "model_state")  # checkpoint dicts that wrap the state dict

StateDict = dict[str, np.ndarray]


def read_state_dict(source: str | os.PathLike | Mapping) -> StateDict:
    """The state dict in ``source`` (a file path or a mapping) as numpy arrays (module docstring); an unreadable
    file or an unknown suffix raises ``InvalidInputError`` naming it."""
    if isinstance(source, Mapping):
        return {str(k): _numpy(v) for k, v in _unwrap(source).items()}
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise InvalidInputError(f"no state dict file at {path}")
    if path.endswith(SAFETENSORS_SUFFIX):
        from safetensors.numpy import load_file

        try:
            return dict(load_file(path))
        except Exception as e:  # safetensors raises its own SafetensorError for a damaged header
            raise InvalidInputError(f"cannot read {path} as safetensors: {e}") from None
    if path.endswith(TORCH_SUFFIXES):
        torch = _import_torch(path)
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch's unpickler raises several types for damaged or unsafe files
            raise InvalidInputError(f"cannot read {path} as a torch state dict: {e}") from None
        if not isinstance(loaded, Mapping):
            raise InvalidInputError(f"{path} holds a {type(loaded).__name__}, not a state dict")
        return read_state_dict(loaded)
    raise InvalidInputError(
        f"unknown state dict format {path!r}: expected a {'/'.join(TORCH_SUFFIXES)} or {SAFETENSORS_SUFFIX} file"
    )


def write_state_dict(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Writes ``state_dict`` to ``path``: ``.safetensors`` without torch, ``.pth`` / ``.pt`` with ``torch.save``."""
    path = os.fspath(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in state_dict.items()}
    if path.endswith(SAFETENSORS_SUFFIX):
        from safetensors.numpy import save_file

        save_file(arrays, path)
    elif path.endswith(TORCH_SUFFIXES):
        torch = _import_torch(path)
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)
    else:
        raise InvalidInputError(f"unknown state dict format {path!r}: use {SAFETENSORS_SUFFIX} or .pth")


def _unwrap(mapping: Mapping) -> Mapping:
    for key in _WRAPPER_KEYS:
        if key in mapping and isinstance(mapping[key], Mapping):
            return mapping[key]
    return mapping


def _numpy(value) -> np.ndarray:
    torch = sys.modules.get("torch")  # a torch tensor comes with torch imported
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()  # numpy has no bfloat16
    return np.asarray(value)


def _import_torch(path: str):
    try:
        import torch
    except ImportError:
        raise InvalidInputError(
            f"reading or writing {path} needs torch (pip install torch), or convert it to {SAFETENSORS_SUFFIX}"
        ) from None
    return torch

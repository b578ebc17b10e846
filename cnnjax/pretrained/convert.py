"""torch / timm state dicts to cnnjax variables and back.

``load_torch(model_name, source)`` returns ``{'params': ..., 'batch_stats': ...}`` for the registry model
``model_name`` (built with ``model_kwargs``; ``num_classes`` defaults to the checkpoint's), its module
paths mapped to torch's by the model's family (:mod:`cnnjax.pretrained.families`) and each tensor
re-laid out (:mod:`cnnjax.pretrained.layouts`).  Every cnnjax parameter and statistic must be filled: a
missing, unexpected or mis-shaped key raises ``InvalidInputError`` naming it (before anything else is
done), except the keys the family drops, which one line on stderr counts and names.  Values are cast to
the model's ``param_dtype``.

``export_torch(model_name, variables)`` is the inverse: the torch state dict (numpy arrays) that
torchvision / timm's model loads with ``strict=True`` (BatchNorm's ``num_batches_tracked`` written as 0).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from cnnjax.errors import InvalidInputError
from cnnjax.models import create_model
from cnnjax.pretrained import families as _families  # noqa: F401  (registers the families)
from cnnjax.pretrained.layouts import NUM_BATCHES_TRACKED, TORCH_LEAF, from_torch, to_torch
from cnnjax.pretrained.mapping import Family, TorchModule, family_of, listed
from cnnjax.pretrained.state_dict import StateDict, read_state_dict

LISTED_KEYS = 5  # keys an error message names before "(+N more)"
INIT_SIZE = 96  # the image side the model's variables are shaped with: above every registry model's minimum


@dataclasses.dataclass(frozen=True)
class TensorPair:
    """One cnnjax array (its collection, module path, leaf, shape and dtype) and the torch module whose tensor it
    pairs with (:attr:`torch_key`)."""

    collection: str
    path: str  # module path, '/'-joined
    leaf: str
    shape: tuple[int, ...]
    dtype: np.dtype
    module: TorchModule

    @property
    def torch_key(self) -> str:
        return f"{self.module.name}.{TORCH_LEAF[self.collection, self.leaf]}"


def load_torch(
    model_name: str, source: str | os.PathLike | Mapping, *, num_classes: int | None = None, **model_kwargs
) -> dict:
    """cnnjax variables of ``model_name`` from the torch state dict in ``source`` (module docstring)."""
    family = family_of(model_name)
    state_dict = {family.current_key(k): v for k, v in read_state_dict(source).items()}
    pairs = check_torch_shapes(
        model_name, {k: np.shape(v) for k, v in state_dict.items()}, num_classes=num_classes, **model_kwargs
    )
    converted = {
        (pair.collection, *pair.path.split("/"), pair.leaf): from_torch(
            np.asarray(state_dict[pair.torch_key]), pair.leaf, pair.module
        ).astype(pair.dtype)
        for pair in pairs
    }
    return traverse_util.unflatten_dict(converted)


def check_torch_shapes(
    model_name: str, shapes: Mapping[str, tuple[int, ...]], *, num_classes: int | None = None, **model_kwargs
) -> list[TensorPair]:
    """The pairing of ``model_name``'s arrays with the torch keys of a state dict of these ``shapes`` (key ->
    shape; the family's current names); a missing, unexpected or mis-shaped key raises ``InvalidInputError``
    naming it, dropped keys print one line (module docstring).  Nothing is allocated: full-size models are
    checked from torch's ``meta`` tensors."""
    family = family_of(model_name)
    if num_classes is None:
        num_classes = _checkpoint_classes(model_name, family, shapes, model_kwargs)
    pairs = _pairs(model_name, family, num_classes, model_kwargs)
    missing = [s.torch_key for s in pairs if s.torch_key not in shapes]
    used = {s.torch_key for s in pairs}
    unused = [k for k in shapes if k not in used]
    dropped = [k for k in unused if family.is_dropped(k)]
    unexpected = [k for k in unused if not family.is_dropped(k)]
    misshaped = [
        f"{s.torch_key} {tuple(shapes[s.torch_key])} (cnnjax {s.shape})"
        for s in pairs
        if s.torch_key in shapes and _cnnjax_shape(shapes[s.torch_key], s) != s.shape
    ]
    problems = [
        f"{what}: {listed(keys, LISTED_KEYS)}"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
        if keys
    ]
    if problems:
        raise InvalidInputError(f"{family.name} checkpoint does not fit {model_name}: {'; '.join(problems)}")
    if dropped:
        counters = [k for k in dropped if k.endswith(f".{NUM_BATCHES_TRACKED}")]
        named = [k for k in dropped if k not in counters]
        parts = [f"{len(named)} of {family.name}'s ({listed(named, LISTED_KEYS)})"] if named else []
        parts += [f"{len(counters)} BatchNorm {NUM_BATCHES_TRACKED}"] if counters else []
        print(f"cnnjax: {model_name} has no place for torch keys, dropped: {' and '.join(parts)}", file=sys.stderr)
    return pairs


def export_torch(model_name: str, variables: Mapping, **model_kwargs) -> StateDict:
    """The torch state dict of cnnjax ``variables`` of ``model_name`` (module docstring)."""
    flat = traverse_util.flatten_dict(jax.device_get(dict(variables)))
    num_classes = _head_classes(flat, family_of(model_name))
    state_dict: StateDict = {}
    for pair in _pairs(model_name, family_of(model_name), num_classes, model_kwargs):
        array = np.asarray(flat[(pair.collection, *pair.path.split("/"), pair.leaf)])
        state_dict[pair.torch_key] = np.ascontiguousarray(to_torch(array, pair.leaf, pair.module))
        if pair.leaf == "mean":
            state_dict[f"{pair.module.name}.{NUM_BATCHES_TRACKED}"] = np.zeros((), np.int64)
    return state_dict


def _pairs(model_name: str, family: Family, num_classes: int, model_kwargs: Mapping) -> list[TensorPair]:
    model = create_model(model_name, num_classes=num_classes, **model_kwargs)
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, INIT_SIZE, INIT_SIZE, model.in_channels)), train=False)
    )
    flat = traverse_util.flatten_dict(dict(shapes))
    by_path = {"/".join(k[1:]): v.shape for k, v in flat.items()}
    modules = family.torch_modules(sorted({"/".join(k[1:-1]) for k in flat}), by_path)
    return [
        TensorPair(k[0], "/".join(k[1:-1]), k[-1], tuple(v.shape), np.dtype(v.dtype), modules["/".join(k[1:-1])])
        for k, v in flat.items()
    ]


def _checkpoint_classes(model_name: str, family: Family, shapes: Mapping, model_kwargs: Mapping) -> int:
    """The class count of the checkpoint's head (the rows of its weight)."""
    head = next(s for s in _pairs(model_name, family, 1, model_kwargs) if s.path == family.head and s.leaf == "kernel")
    if head.torch_key not in shapes:
        raise InvalidInputError(f"{family.name} checkpoint does not fit {model_name}: missing: {head.torch_key}")
    return int(shapes[head.torch_key][0])


def _cnnjax_shape(torch_shape: tuple[int, ...], pair: TensorPair) -> tuple[int, ...] | None:
    """The shape the torch tensor takes in cnnjax (``None`` where its layout cannot be converted), worked out on
    a zero-stride view: nothing is allocated."""
    try:
        return from_torch(np.broadcast_to(np.zeros((), np.int8), torch_shape), pair.leaf, pair.module).shape
    except ValueError:  # a reshape that the element count does not allow
        return None


def _head_classes(flat: Mapping, family: Family) -> int:
    return int(flat[("params", *family.head.split("/"), "kernel")].shape[-1])

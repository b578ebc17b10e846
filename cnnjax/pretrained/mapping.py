"""Which torch module holds each cnnjax module's tensors: the per-family maps and the rules they share.

A family maps every cnnjax module that owns parameters (its path, '/'-joined, e.g.
``stage1_block1/conv1/norm``) to a :class:`TorchModule` (the torch module's dotted name, e.g.
``layer1.0.bn1``).  Every family's map is a function of the model's module paths, so one map serves every
depth and width of the family (the shrunk models of the parity tests and the full-size ones alike).  Within a
module the tensors pair by kind (:mod:`cnnjax.pretrained.layouts`).

Torch keys that cnnjax has no place for are listed per family (:attr:`Family.dropped`, regular expressions)
and dropped; BatchNorm's ``num_batches_tracked`` is dropped for every family.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from cnnjax.errors import InvalidInputError

ALWAYS_DROPPED = (r"(.*\.)?num_batches_tracked",)


@dataclasses.dataclass(frozen=True)
class TorchModule:
    """A torch module's dotted name, and how its tensors' layout differs from the cnnjax module's where the
    kind alone does not say: ``flattened_from`` (C, H, W) for a Linear fed by torch's NCHW flatten of a
    C x H x W map (cnnjax flattens NHWC); ``conv_1x1`` for a 1x1 Conv2d that cnnjax holds as a Dense
    (squeeze-excitation)."""

    name: str
    flattened_from: tuple[int, int, int] | None = None
    conv_1x1: bool = False


ModuleMap = Callable[[Sequence[str], Mapping], dict[str, TorchModule]]


@dataclasses.dataclass(frozen=True)
class Family:
    """A family of registry models with one mapping: ``models`` (shell wildcards of registry names),
    ``torch_modules(paths, shapes)`` (cnnjax module path -> :class:`TorchModule`, given every module path and
    each ``path/leaf``'s shape), ``dropped`` (regular expressions of torch keys cnnjax has no place for) and
    ``source`` (where its checkpoints come from, for messages and the README); ``head`` is the cnnjax path of
    the layer whose output channels are the classes; ``legacy_keys`` (pattern, replacement) rename keys of older
    published files to the current names before mapping."""

    name: str
    models: tuple[str, ...]
    torch_modules: ModuleMap
    source: str
    dropped: tuple[str, ...] = ()
    head: str = "head"
    legacy_keys: tuple[tuple[str, str], ...] = ()

    def current_key(self, key: str) -> str:
        """``key`` under today's torch names (``legacy_keys``)."""
        for pattern, replacement in self.legacy_keys:
            key = re.sub(f"^{pattern}$", replacement, key)
        return key

    def is_dropped(self, key: str) -> bool:
        return any(re.fullmatch(p, key) for p in (*ALWAYS_DROPPED, *self.dropped))


_FAMILIES: list[Family] = []


def register_family(family: Family) -> Family:
    _FAMILIES.append(family)
    return family


def family_of(model_name: str) -> Family:
    """The family whose ``models`` match ``model_name``; one that none matches raises ``InvalidInputError``
    listing the models that import."""
    for family in _FAMILIES:
        if any(fnmatch.fnmatchcase(model_name, p) for p in family.models):
            return family
    known = ", ".join(p for f in _FAMILIES for p in f.models)
    raise InvalidInputError(f"no torch mapping for model {model_name!r}; models that import: {known}")


def has_family(model_name: str) -> bool:
    return any(fnmatch.fnmatchcase(model_name, p) for f in _FAMILIES for p in f.models)


def families() -> list[Family]:
    return list(_FAMILIES)


def renamed(path: str, rules: Iterable[tuple[str, str | Callable[[re.Match], str]]]) -> str | None:
    """``path`` rewritten by the first rule whose pattern matches it whole (``re.fullmatch``); ``None`` if none
    does.  A rule's replacement is a template (``\\1``) or a function of the match."""
    for pattern, replacement in rules:
        match = re.fullmatch(pattern, path)
        if match:
            return replacement(match) if callable(replacement) else match.expand(replacement)
    return None


def listed(names: Sequence[str], limit: int) -> str:
    """The first ``limit`` of ``names``, comma-separated, then ``(+N more)``: how messages name keys and arrays."""
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def minus_one(group: str) -> str:
    """A 1-based cnnjax index as torch's 0-based one: ``'3'`` -> ``'2'``."""
    return str(int(group) - 1)


def ordinal(paths: Iterable[str], pattern: str) -> dict[str, int]:
    """The 0-based position of each distinct match of ``pattern`` (a prefix regex, e.g. ``stage\\d+_block\\d+``)
    among ``paths``, ordered by the numbers in it: torch's running index of blocks that cnnjax numbers per
    stage (``stage2_block1`` -> ``features.3``)."""
    found = {m.group(0) for p in paths if (m := re.match(pattern, p))}
    key = lambda s: tuple(int(n) for n in re.findall(r"\d+", s))  # noqa: E731
    return {name: i for i, name in enumerate(sorted(found, key=key))}


def flattened_classifier(shapes: Mapping, last_conv: str, indices: tuple[int, int, int]) -> dict[str, TorchModule]:
    """VGG / AlexNet's classifier: cnnjax ``fc1`` / ``fc2`` / ``head`` at torch's ``classifier.{i}`` for ``indices``;
    ``fc1`` reads torch's NCHW flatten of the ``last_conv`` map pooled square (its side from fc1's input rows)."""
    channels = shapes[f"{last_conv}/kernel"][-1]
    pool = int(round((shapes["fc1/kernel"][0] / channels) ** 0.5))
    fc1, fc2, head = (f"classifier.{i}" for i in indices)
    return {
        "fc1": TorchModule(fc1, flattened_from=(channels, pool, pool)),
        "fc2": TorchModule(fc2),
        "head": TorchModule(head),
    }


def map_all(paths: Sequence[str], rules, what: str) -> dict[str, TorchModule]:
    """Every path renamed by ``rules`` (:func:`renamed`); one that no rule covers is a bug in the family's
    map, raised with the path (the parity tests run every family's map over its models)."""
    result = {}
    for path in paths:
        name = renamed(path, rules)
        if name is None:
            raise ValueError(f"the {what} torch map has no rule for cnnjax module {path!r}")
        result[path] = TorchModule(name)
    return result

"""Building a sweep's points (dicts of dotted config keys to values) and naming them.

A point's name is its `"name"` entry when it has one, else built from its overrides in their order, `seed`
left out: `leaf-value` pieces joined by `_` (the full dotted key where two keys share a leaf), each
character outside `[A-Za-z0-9.+-]` of a value turned into `_`. A name longer than `MAX_NAME` keeps its
start and ends with a hash of the overrides (SHA-1 of their `repr`, the same on every Python version).
A point without overrides is named `base`.
"""

import hashlib
import itertools
import re

from cnnjax.config import ConfigError

MAX_NAME = 80
NAME_KEY = "name"
SEED_KEY = "seed"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def product(**axes: list) -> list[dict]:
    """The grid of `axes` (dotted keys given with `__` for `.`, e.g. `optimizer__learning_rate=[0.1, 0.01]`):
    one point per combination, the last axis varying fastest."""
    keys = [key.replace("__", ".") for key in axes]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def zip_points(**axes: list) -> list[dict]:
    """Paired lists (keys as in `product`), all of one length: point i takes the i-th value of each axis."""
    lengths = {len(values) for values in axes.values()}
    if len(lengths) > 1:
        raise ConfigError(f"zip_points needs lists of one length, got lengths {sorted(lengths)}")
    keys = [key.replace("__", ".") for key in axes]
    return [dict(zip(keys, values, strict=True)) for values in zip(*axes.values(), strict=True)]


def seeds(points: list[dict], values: list[int]) -> list[dict]:
    """Each point once per seed in `values` (the point's `seed` set), for sweeps that fix their seeds."""
    return [{**point, SEED_KEY: seed} for point in points for seed in values]


def overrides_of(point: dict) -> dict:
    """The config overrides of a point: everything but its `name`."""
    return {key: value for key, value in point.items() if key != NAME_KEY}


def point_name(point: dict) -> str:
    """The point's directory name (module docstring); a given `name` must be filesystem-safe."""
    if NAME_KEY in point:
        name = point[NAME_KEY]
        if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
            raise ConfigError(f"sweep point name {name!r} must match {_SAFE_NAME.pattern}")
        return name
    overrides = {key: value for key, value in overrides_of(point).items() if key != SEED_KEY}
    if not overrides:
        return "base"
    leaves = [key.rsplit(".", 1)[-1] for key in overrides]
    pieces = [
        f"{leaf if leaves.count(leaf) == 1 else key}-{_value_text(value)}"
        for key, leaf, value in zip(overrides, leaves, overrides.values(), strict=True)
    ]
    name = "_".join(pieces)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(repr(sorted(overrides.items())).encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - len(digest) - 1]}-{digest}"


def _value_text(value) -> str:
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, tuple | list):
        text = "x".join(_value_text(v) for v in value)
    return re.sub(r"[^A-Za-z0-9.+-]", "_", text).strip("_") or "_"

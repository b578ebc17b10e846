"""Loading an experiment file (`path.py[:arg]` → `get_config(arg)`) and applying `a.b=value` overrides.

Sections named in `OPEN_SECTIONS` accept new keys (constructor keywords, checked by the constructor).
Errors are `ConfigError`s with a short message (unknown key with the closest valid keys, wrong type),
meant to be shown to the user without a traceback.
"""

import ast
import difflib
import importlib.util
import inspect
import os
import traceback

import ml_collections

from cnnjax.errors import InvalidInputError

OPEN_SECTIONS = ("model.overrides",)


class ConfigError(InvalidInputError):
    """A config file or override the user must fix."""


def load_config(spec: str, overrides: list[str] | tuple[str, ...] = ()) -> ml_collections.ConfigDict:
    """Loads `path.py` or `path.py:arg`, applies `key=value` overrides and returns the locked config."""
    path, _, arg = spec.partition(":")
    config = call_with_arg(load_module(path), "get_config", path, arg)
    config.lock()
    apply_overrides(config, overrides)
    return config


def load_module(path: str):
    """Runs the experiment file at `path` and returns it as a module; its errors are ConfigErrors."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    module_spec = importlib.util.spec_from_file_location(f"cnnjax_experiment_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: {e.msg}: {(e.text or '').strip()}") from None
    except Exception as e:  # whatever the file raises when it runs
        raise ConfigError(f"{path}:{_line_in(path, e)}: {type(e).__name__}: {e}") from None
    return module


def call_with_arg(module, function: str, path: str, arg: str):
    """`module.function(arg or None)` (or `module.function()` when it takes no argument and `arg` is empty);
    a missing function, an unwanted arg and whatever the call raises are ConfigErrors."""
    if not hasattr(module, function):
        raise ConfigError(f"{path} defines no {function}(arg=None)")
    takes_arg = bool(inspect.signature(getattr(module, function)).parameters)
    if arg and not takes_arg:
        raise ConfigError(f"{path}: {function}() takes no argument, but '{arg}' was given")
    try:
        return getattr(module, function)(arg or None) if takes_arg else getattr(module, function)()
    except ValueError as e:  # the file's own message about its arg
        raise ConfigError(f"{path}: {e}") from None
    except Exception as e:
        raise ConfigError(f"{path}:{_line_in(path, e)}: {type(e).__name__}: {e}") from None


def _line_in(path: str, error: BaseException) -> int | str:
    """The line of `path` where `error` was raised (the innermost frame in that file)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
    return frames[-1].lineno if frames else "?"


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> None:
    """Applies `a.b=value` strings in place; values are parsed as Python literals for non-string fields."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise ConfigError(f"override '{override}' is not of the form key=value")
        key = key.strip()
        parent, leaf = _resolve(config, key)
        if leaf not in parent:  # a new key in an open section
            with parent.unlocked():
                parent[leaf] = _parse(raw, None, key)
            continue
        value = _parse(raw, parent.get_ref(leaf).get_type(), key)
        try:
            parent[leaf] = value
        except TypeError:
            raise ConfigError(f"config.{key} expects {_type_name(parent[leaf])}, got '{raw}'") from None


def _resolve(config, key: str):
    """Returns (parent ConfigDict, leaf name) for a dotted key, or a ConfigError naming close keys."""
    parts = key.split(".")
    node = config
    for i, part in enumerate(parts):
        is_open_leaf = i == len(parts) - 1 and ".".join(parts[:-1]) in OPEN_SECTIONS
        if not isinstance(node, ml_collections.ConfigDict) or (part not in node and not is_open_leaf):
            raise ConfigError(_unknown_key_message(config, key))
        if i < len(parts) - 1:
            node = node[part]
    return node, parts[-1]


def _unknown_key_message(config, key: str) -> str:
    valid = _flat_keys(config)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.75)
    leaf_close = [k for k in valid if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1] and k not in close]
    suggestions = close + leaf_close[:2]
    hint = f" Did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    return f"unknown config key '{key}'.{hint}"


def _flat_keys(config, prefix: str = "") -> list[str]:
    keys = []
    for name in config.keys():
        full = f"{prefix}{name}"
        value = config[name]
        keys.append(full)
        if isinstance(value, ml_collections.ConfigDict):
            keys.extend(_flat_keys(value, full + "."))
    return keys


def _parse(raw: str, field_type: type | None, key: str):
    """Parses `raw` for a field of `field_type` (None: untyped, any literal; unparsable text stays a string)."""
    if field_type is str:
        quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
        return ast.literal_eval(raw) if quoted else raw
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        if field_type is None:
            return raw
        expected = field_type.__name__
        raise ConfigError(f"config.{key}: cannot parse '{raw}' as {expected}") from None
    if field_type is bool and not isinstance(value, bool):
        raise ConfigError(f"config.{key} expects True or False, got '{raw}'")
    if field_type in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"config.{key} expects {field_type.__name__}, got '{raw}'")
    if field_type is int and not isinstance(value, int):
        raise ConfigError(f"config.{key} expects int, got '{raw}'")
    if field_type is tuple and isinstance(value, list):
        return tuple(value)
    if field_type is tuple and isinstance(value, int | float):
        return (value,)
    return value


def _type_name(value) -> str:
    return type(value).__name__

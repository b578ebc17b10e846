"""Strict JSON for metrics and summaries: a non-finite float is written as the string "NaN", "Infinity" or
"-Infinity" (JavaScript's names; `float()` reads each back), never as a bare token that JSON parsers reject."""

import json
import math

NONFINITE_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode(value):
    """`value` with every non-finite float (also inside dicts, lists, numpy scalars) replaced by its name."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value):
    """The inverse of `encode`: the names of non-finite floats become floats again."""
    if isinstance(value, str) and value in NONFINITE_NAMES:
        return NONFINITE_NAMES[value]
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def dumps(value, **kwargs) -> str:
    """`json.dumps` of `encode(value)`; refuses (ValueError) anything that would not be strict JSON."""
    return json.dumps(encode(value), allow_nan=False, **kwargs)

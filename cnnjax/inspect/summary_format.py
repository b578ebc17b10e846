"""A :class:`~cnnjax.inspect.summary.Summary` as a terminal table, JSON or CSV.

- Table: one line per row, then the totals line; shapes without the batch axis (the header names the
  batch), MACs with SI prefixes, bytes in KiB / MiB / GiB; a stride, padding, receptive field or jump
  equal on every axis as one number; dilation 1 and groups 1 left blank.
- JSON: ``{"input_shape", "input_dtype", "rows": [...], "totals": {...}}``; each row has every
  :class:`~cnnjax.inspect.summary.LayerRow` field (``path, kind, kernel, stride, dilation, padding, groups,
  output_shape, dtype, params, macs, activation_bytes, receptive_field, jump``), unformatted.
- CSV: the same row fields (tuples written as ``3x3``, padding as ``(0,1)x(0,1)``), then one row
  whose ``path`` is ``total``: the total ``params`` and ``macs``, and as ``activation_bytes`` the
  inference peak (the training peak is in the table and the JSON).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json

from cnnjax.inspect.summary import LayerRow, Summary

FORMATS = ("table", "json", "csv")
_FIELDS = [field.name for field in dataclasses.fields(LayerRow)]


def format_summary(result: Summary, output_format: str) -> str:
    """``result`` in ``output_format``, one of :data:`FORMATS`."""
    return {"table": format_table, "json": to_json, "csv": to_csv}[output_format](result)


def to_json(result: Summary) -> str:
    document = {
        "input_shape": list(result.input_shape),
        "input_dtype": result.input_dtype,
        "rows": [dataclasses.asdict(row) for row in result.rows],
        "totals": dataclasses.asdict(result.totals),
    }
    return json.dumps(document, indent=1)


def to_csv(result: Summary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_FIELDS)
    for row in result.rows:
        writer.writerow(_cells(row))
    total = dict.fromkeys(_FIELDS, "")
    total.update(
        path="total",
        params=result.totals.params,
        macs=result.totals.macs,
        activation_bytes=result.totals.inference_peak_bytes,
    )
    writer.writerow(total.values())
    return out.getvalue()


def _cells(row: LayerRow) -> list:
    return [
        row.path,
        row.kind,
        _axes(row.kernel),
        _axes(row.stride),
        _axes(row.dilation),
        _padding(row.padding),
        "" if row.groups is None else row.groups,
        "x".join(map(str, row.output_shape)),
        row.dtype,
        row.params,
        row.macs,
        row.activation_bytes,
        _axes(row.receptive_field),
        _axes(row.jump),
    ]


def _axes(values) -> str:
    """``(3, 3)`` -> ``'3x3'``; ``None`` (or every entry ``None``) -> ``''``."""
    if values is None or all(v is None for v in values):
        return ""
    return "x".join("-" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def _padding(pairs) -> str:
    if pairs is None:
        return ""
    return "x".join(str(lo) if lo == hi else f"({lo},{hi})" for lo, hi in pairs)


def _same_or_all(text: str) -> str:
    """``'3x3'`` -> ``'3'``: one value where every axis has it."""
    parts = text.split("x")
    return parts[0] if len(set(parts)) == 1 else text


def si(value: float, unit: str = "") -> str:
    """``4089184256`` -> ``'4.09 G'``: three significant digits and an SI prefix."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def binary_bytes(value: int) -> str:
    """``802816`` -> ``'784 KiB'``."""
    for prefix, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}"
    return f"{value} B"


def format_table(result: Summary) -> str:
    header = ["path", "kind", "kernel", "stride", "dilation", "padding", "groups", "output", "params", "MACs"]
    header += ["activations", "RF", "jump"]
    lines = [header]
    for row in result.rows:
        lines.append(
            [
                row.path,
                row.kind,
                _axes(row.kernel),
                _same_or_all(_axes(row.stride)),
                "" if row.dilation is None or set(row.dilation) == {1} else _same_or_all(_axes(row.dilation)),
                _same_or_all(_padding(row.padding)),
                "" if row.groups in (None, 1) else str(row.groups),
                "x".join(map(str, row.output_shape[1:])),
                f"{row.params:,}",
                si(row.macs) if row.macs else "",
                binary_bytes(row.activation_bytes),
                _same_or_all(_axes(row.receptive_field)),
                _same_or_all(_axes(row.jump)) or "-",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {"params", "MACs", "activations", "RF", "jump"}
    text = [
        "  ".join(cell.rjust(w) if name in numeric else cell.ljust(w) for cell, w, name in zip(line, widths, header))
        for line in lines
    ]
    totals = result.totals
    batch, *image = result.input_shape
    text.insert(0, f"input {'x'.join(map(str, image))} {result.input_dtype}, batch {batch}")
    text.insert(2, "-" * len(text[1]))
    text.append("-" * len(text[1]))
    text.append(
        f"total: {totals.params:,} params ({binary_bytes(totals.param_bytes)}), {si(totals.macs, 'MACs')};"
        f" activation peak: inference {binary_bytes(totals.inference_peak_bytes)},"
        f" training step {binary_bytes(totals.training_peak_bytes)}"
    )
    return "\n".join(line.rstrip() for line in text)

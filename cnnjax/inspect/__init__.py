"""Model inspection: the per-layer table (:func:`summary`)."""

from cnnjax.inspect.summary import LayerRow, Summary, Totals, summary

__all__ = ["LayerRow", "Summary", "Totals", "summary"]

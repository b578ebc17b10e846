"""cnnjax.reporting: metrics log (JSONL + TensorBoard), progress bar, training curves, run summary."""

from cnnjax.reporting.metrics_log import MetricsLog, read_metrics
from cnnjax.reporting.plots import plot_training_curves
from cnnjax.reporting.progress import Progress
from cnnjax.reporting.summary import write_summary

__all__ = ["MetricsLog", "Progress", "plot_training_curves", "read_metrics", "write_summary"]

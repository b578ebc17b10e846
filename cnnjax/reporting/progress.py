"""Progress bar over training steps (tqdm on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from tqdm import tqdm


class Progress:
    """Progress bar over training steps: step/total, loss, accuracy, images/s.

    Redraws at most once a second on a terminal and every 10 s in non-TTY logs (CI);
    ``enabled=False`` prints nothing.
    """

    def __init__(self, total_steps: int, initial_step: int = 0, enabled: bool = True):
        self._enabled = enabled
        self._bar = tqdm(
            total=total_steps,
            initial=initial_step,
            unit="step",
            file=sys.stderr,
            mininterval=1.0 if sys.stderr.isatty() else 10.0,
            dynamic_ncols=True,
            disable=not enabled,
        )

    def update(self, step: int, metrics: Mapping[str, float], images_per_sec: float) -> None:
        """Moves the bar to the absolute ``step`` and shows loss, accuracy and img/s."""
        postfix = []
        if "loss" in metrics:
            postfix.append(f"loss={float(metrics['loss']):.4f}")
        if "accuracy" in metrics:
            postfix.append(f"acc={float(metrics['accuracy']):.2%}")
        postfix.append(f"{images_per_sec:,.0f} img/s")
        self._bar.set_postfix_str(", ".join(postfix), refresh=False)
        self._bar.update(step - self._bar.n)

    def write(self, message: str) -> None:
        """Prints a line above the bar (e.g. eval results)."""
        if self._enabled:
            self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        """Closes the bar, leaving its final state in the log."""
        self._bar.close()

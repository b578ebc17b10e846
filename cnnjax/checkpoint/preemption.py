"""Clean stops on SIGTERM: the run saves a checkpoint at the next step boundary and exits.

With several processes, JAX's preemption service (started by `jax.distributed.initialize`) receives
the signal and all processes agree on the step to stop at (`reached_preemption_sync_point`).
"""

import signal
import threading

import jax
from jax.experimental import multihost_utils


class PreemptionWatcher:
    """Tells the training loop, at each step boundary, whether to save and stop."""

    def __init__(self):
        self._requested = False
        self._previous = None
        self._multi_process = jax.process_count() > 1
        if not self._multi_process and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame):
        self._requested = True

    def should_stop(self, step: int) -> bool:
        """Call once per step, on every process, with the step just completed."""
        if self._multi_process:
            return multihost_utils.reached_preemption_sync_point(step)
        return self._requested

    def close(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

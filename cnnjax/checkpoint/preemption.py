"""Clean stops on SIGTERM and Ctrl-C (SIGINT): the run saves a checkpoint at the next step boundary and exits.

With several processes, JAX's preemption service (started by `jax.distributed.initialize`) receives
SIGTERM and all processes agree on the step to stop at (`reached_preemption_sync_point`); a Ctrl-C is
turned into a SIGTERM of the same process so it takes the same path. A second Ctrl-C while a stop is
pending exits at once, without saving.
"""

import os
import signal
import sys
import threading

import jax
from jax.experimental import multihost_utils

from cnnjax.errors import EXIT_INTERRUPTED


class PreemptionWatcher:
    """Tells the training loop, at each step boundary, whether to save and stop; `reason` names the signal."""

    def __init__(self):
        self.reason: str | None = None
        self._previous = {}
        self._multi_process = jax.process_count() > 1
        if threading.current_thread() is not threading.main_thread():
            return
        signals = (signal.SIGINT,) if self._multi_process else (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame):
        if signum == signal.SIGINT and self.reason is not None:
            print("cnnjax: second Ctrl-C: exiting at once, without saving", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        self.reason = signal.Signals(signum).name
        if self._multi_process:  # JAX's preemption service listens for SIGTERM
            os.kill(os.getpid(), signal.SIGTERM)

    def should_stop(self, step: int) -> bool:
        """Call once per step, on every process, with the step just completed."""
        if self._multi_process:
            stop = multihost_utils.reached_preemption_sync_point(step)
            if stop and self.reason is None:
                self.reason = "SIGTERM"
            return stop
        return self.reason is not None

    def close(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

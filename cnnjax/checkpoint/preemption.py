"""Clean stops on SIGTERM and Ctrl-C (SIGINT): the run stops at the next step or evaluation batch, saves and exits.

The loop asks `should_stop()` after every train step and every evaluation batch, in the same sequence on
every process. With several processes, JAX's preemption service (started by `jax.distributed.initialize`)
receives SIGTERM and all processes agree on the call at which to stop (`reached_preemption_sync_point`,
counted in calls since the watcher started); a Ctrl-C is
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
        self._calls = 0
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

    def should_stop(self) -> bool:
        """Call after every train step and evaluation batch, on every process."""
        self._calls += 1
        if self._multi_process:
            stop = multihost_utils.reached_preemption_sync_point(self._calls)
            if stop and self.reason is None:
                self.reason = "SIGTERM"
            return stop
        return self.reason is not None

    def close(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

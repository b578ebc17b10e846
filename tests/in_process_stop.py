"""Stopping a `cnnjax train` that runs in the test's own process the way a SIGTERM stops a launched one, without
the start-up of a second process."""

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

from cnnjax.reporting import read_metrics

POLL_SECONDS = 0.005


@contextlib.contextmanager
def sigterm_when(condition: Callable[[], bool]) -> Iterator[list[int]]:
    """While the block runs, a thread sends this process one SIGTERM as soon as ``condition()`` holds.

    The run's own handler (installed while it trains) takes the signal; one that lands outside that window is
    caught here and listed in the yielded list instead of ending the test process.
    """
    caught: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if condition():
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(POLL_SECONDS)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield caught
    finally:
        finished.set()
        thread.join()
        signal.signal(signal.SIGTERM, previous)


def train_rows_at_least(workdir, count: int) -> Callable[[], bool]:
    """A `sigterm_when` condition: ``workdir``'s metrics hold ``count`` train rows."""
    return lambda: len(read_metrics(str(workdir), "train")) >= count

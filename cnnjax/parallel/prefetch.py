"""A background thread that keeps the next batches on the devices while the current step runs."""

import queue
import threading
from collections.abc import Callable, Iterator

_END = object()


class DevicePrefetch:
    """Iterates `place(batch)` for the batches of `host_batches`, `size` of them placed ahead of the consumer.

    An exception raised by the host iterator or by `place` is raised by `next()` in the consumer's thread,
    after the batches placed before it. `close()` stops the thread; nothing else is read after it.
    """

    def __init__(self, host_batches: Iterator, place: Callable, size: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._closed = threading.Event()
        self._peeked = _END
        self._thread = threading.Thread(target=self._fill, args=(host_batches, place), daemon=True, name="prefetch")
        self._thread.start()

    def _fill(self, host_batches: Iterator, place: Callable) -> None:
        try:
            for batch in host_batches:
                if not self._put(place(batch)):
                    return
            self._put(_END)
        except BaseException as e:  # handed to the consumer
            self._put(e)

    def _put(self, item) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        return self

    def peek(self):
        """The next placed batch, which the next `next()` returns again."""
        if self._peeked is _END:
            self._peeked = self._get()
        return self._peeked

    def __next__(self):
        if self._peeked is not _END:
            item, self._peeked = self._peeked, _END
            return item
        return self._get()

    def _get(self):
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stops the thread and drops the batches placed ahead (their host buffers are released)."""
        self._closed.set()
        self._thread.join(timeout=10)
        self._peeked = _END
        while not self._queue.empty():
            self._queue.get_nowait()

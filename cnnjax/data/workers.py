"""How many data workers and threads, and the set-up of each worker process.

Rules: a worker process ignores SIGINT and SIGTERM (the trainer decides when to stop and closes the
pipeline), also while it starts: the parent's thread that starts workers (in `ShieldedIterator`) holds
both signals blocked, the child inherits the mask, and `init_worker` ignores them (dropping any pending)
before unblocking. A worker is killed when its parent dies (PR_SET_PDEATHSIG, Linux: strictly, when the
parent's thread that started it ends, a Grain thread that lives as long as the iterator; checked once
against a parent that died before the call). Every data worker or thread runs BLAS (and, in worker
processes, OpenMP) on one thread, so N workers x M threads never oversubscribe the cores.

-1 in the config chooses from the cores this process may run on: one worker process per core with one
thread each when there are several (processes keep the pipeline's per-example Python off the trainer's GIL;
Pillow's JPEG work releases the GIL, so there threads come close), else no worker process and one thread.
Measurements are in benchmarks/README.md.
"""

import ctypes
import os
import signal

import threadpoolctl
from absl import flags

from cnnjax.errors import InvalidInputError

AUTO = -1  # config value: choose from the core count
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1
_SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve(num_workers: int, num_threads: int) -> tuple[int, int]:
    """(worker processes, threads per process) for config values, where AUTO (-1) chooses (module docstring)."""
    for name, value in (("num_workers", num_workers), ("num_threads", num_threads)):
        if value < AUTO:
            raise InvalidInputError(f"config.dataset.{name} must be -1 (auto) or >= 0, got {value}")
    cores = available_cores()
    if num_workers == AUTO:
        num_workers = cores if cores > 1 else 0
    if num_threads == AUTO:
        num_threads = 1
    return num_workers, num_threads


TRACKER_WARNING_FILTER = "ignore:resource_tracker:UserWarning"


def quiet_shared_memory_tracker() -> None:
    """Batches still in flight between Grain's workers and this process when an iterator closes stay in shared
    memory until Python's resource tracker unlinks them at exit, which it does with a 'leaked shared_memory'
    warning per run. The tracker (started with the first worker) inherits this filter and unlinks them quietly."""
    filters = os.environ.get("PYTHONWARNINGS", "")
    if TRACKER_WARNING_FILTER not in filters:
        os.environ["PYTHONWARNINGS"] = ",".join(f for f in (filters, TRACKER_WARNING_FILTER) if f)


def ready_absl_flags() -> None:
    """Grain's worker processes read absl flags: mark them parsed (defaults) unless the program parsed them."""
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def init_worker(parent_pid: int, worker_index: int, worker_count: int) -> None:
    """Grain's `worker_init_fn` (called with the worker's index and count): the rules of the module docstring."""
    del worker_index, worker_count
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(0)
    os.environ.update(dict.fromkeys(_SINGLE_THREAD_ENV, "1"))
    threadpoolctl.threadpool_limits(1)


def limit_blas_threads() -> None:
    """One BLAS thread for this process's numpy (pipeline threads run numpy in parallel); OpenMP, which
    the trainer's native kernels may use, is left alone."""
    threadpoolctl.threadpool_limits(1, user_api="blas")


class ShieldedIterator:
    """Iterates `iterable` with STOP_SIGNALS blocked in the calling thread during each step, so the threads
    and worker processes a step starts inherit them blocked (module docstring). A signal that arrives
    meanwhile is delivered when the step returns."""

    def __init__(self, iterable):
        self._iterable, self._iterator = iterable, None

    def __iter__(self):
        return self

    def __next__(self):
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            if self._iterator is None:
                self._iterator = iter(self._iterable)
            return next(self._iterator)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def close(self) -> None:
        """Stops the worker processes, if any were started."""
        if self._iterator is not None:
            self._iterator.close()


class ShieldedIterable:
    """Re-iterable: each pass is a fresh `ShieldedIterator` (with fresh worker processes)."""

    def __init__(self, iterable):
        self._iterable = iterable

    def __iter__(self) -> ShieldedIterator:
        return ShieldedIterator(self._iterable)

"""`--executor local`: up to `--parallel K` runs at once on this machine, each a `ChildRun` with a share of it.

With K = 1 a run gets the whole machine, as a plain `cnnjax train` would. With K > 1 the CPUs this sweep may
run on (`os.sched_getaffinity`, in order) are cut into K contiguous blocks, sizes differing by one at most,
and run i of those at once is pinned to block i: XLA:CPU's thread pool and the data workers' `-1` (auto)
size themselves from that affinity, and `OMP_NUM_THREADS` (the oneDNN convolutions' OpenMP) is set to the
block's size unless the user set it. Where GPUs are visible (`CUDA_VISIBLE_DEVICES`, else `nvidia-smi -L`;
none under `JAX_PLATFORMS=cpu`) they are cut the same way into K disjoint `CUDA_VISIBLE_DEVICES` sets. K
larger than the CPUs, or than the GPUs where there are GPUs, is refused before anything runs.
"""

import os
import subprocess
import time
from collections import deque
from collections.abc import Iterator

from cnnjax.cpu_runtime import cpu_pinned
from cnnjax.errors import InvalidInputError
from cnnjax.sweep.child import WHOLE_MACHINE, ChildRun, Share, TrainCommand
from cnnjax.sweep.executor import Ended, Launched

POLL_SECONDS = 0.1  # how often running children are checked for their end
NVIDIA_SMI_TIMEOUT_S = 30
OPENMP_THREADS = "OMP_NUM_THREADS"
VISIBLE_GPUS = "CUDA_VISIBLE_DEVICES"


class LocalExecutor:
    """Runs commands as children, `parallel` at most at once, in the order given (module docstring)."""

    def __init__(self, parallel: int):
        self._shares = machine_shares(parallel)
        self._running: dict[int, tuple[TrainCommand, ChildRun]] = {}  # share index → what runs on it
        self._stopped: int | None = None

    def execute(self, commands: list[TrainCommand]) -> Iterator[Launched | Ended]:
        waiting = deque(commands)
        while self._running or (waiting and self._stopped is None):
            free = [index for index in range(len(self._shares)) if index not in self._running]
            while waiting and free and self._stopped is None:
                command, index = waiting.popleft(), free.pop(0)
                share = self._shares[index]
                child = ChildRun(command, share)
                self._running[index] = command, child
                if self._stopped is not None:  # a signal arrived while it started
                    child.forward(self._stopped)
                yield Launched(command.path, f"started ({describe(share)})" if share.cpus else "started")
            ended = [index for index, (_, child) in self._running.items() if child.process.poll() is not None]
            for index in ended:
                command, child = self._running.pop(index)
                yield Ended(command.path, child.ending())
            if not ended:
                time.sleep(POLL_SECONDS)

    def stop(self, signum: int) -> None:
        self._stopped = signum
        for _, child in self._running.values():
            child.forward(signum)


def machine_shares(parallel: int) -> list[Share]:
    """The `parallel` (>= 1) disjoint shares of this machine (module docstring); the whole machine for 1."""
    if parallel == 1:
        return [WHOLE_MACHINE]
    cpus = sorted(os.sched_getaffinity(0))
    if parallel > len(cpus):
        raise InvalidInputError(f"--parallel {parallel}: this sweep may run on {len(cpus)} CPUs, one per run at least")
    gpus = visible_gpus()
    if gpus and parallel > len(gpus):
        raise InvalidInputError(f"--parallel {parallel}: {len(gpus)} GPUs are visible, one per run at least")
    gpu_blocks = split(gpus, parallel) if gpus else [None] * parallel
    shares = []
    for block, gpu_block in zip(split(cpus, parallel), gpu_blocks):
        env = {} if OPENMP_THREADS in os.environ else {OPENMP_THREADS: str(len(block))}
        if gpu_block:
            env[VISIBLE_GPUS] = ",".join(gpu_block)
        shares.append(Share(tuple(block), env))
    return shares


def split(items: list, parts: int) -> list[list]:
    """`items` cut in order into `parts` contiguous blocks whose sizes differ by one at most (larger first)."""
    size, extra = divmod(len(items), parts)
    bounds = [index * size + min(index, extra) for index in range(parts + 1)]
    return [items[bounds[index] : bounds[index + 1]] for index in range(parts)]


def visible_gpus() -> list[str]:
    """The GPUs runs may use (module docstring): `CUDA_VISIBLE_DEVICES`'s entries, or nvidia-smi's indices."""
    if cpu_pinned():
        return []
    if VISIBLE_GPUS in os.environ:
        return [gpu.strip() for gpu in os.environ[VISIBLE_GPUS].split(",") if gpu.strip()]
    try:
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):  # no nvidia-smi, or no driver
        return []
    return [str(index) for index, _ in enumerate(line for line in listed.splitlines() if line.startswith("GPU "))]


def describe(share: Share) -> str:
    """`CPUs 0-3,8` (ranges of the share's CPUs) and the GPUs it sees, for progress lines."""
    ranges, cpus = [], list(share.cpus or ())
    for cpu in cpus:
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    text = "CPUs " + ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
    return f"{text}; GPUs {share.env[VISIBLE_GPUS]}" if VISIBLE_GPUS in share.env else text

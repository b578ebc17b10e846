"""Grain input pipelines: the training batches from any step on, and padded, masked eval batches.

Both are defined on the global stream, so the data a step sees does not depend on the process count
nor on the parallelism: training shuffles the whole split by seed (a new permutation every epoch, epochs
flow into each other), global batch b holds stream positions [b*G, (b+1)*G), and process p reads and
augments only positions [b*G + p*L, b*G + (p+1)*L), L = G / process_count. Example augmentation draws
from `default_rng([seed, position])`, so batch b is a function of b alone: the processes' batches
concatenate to the 1-process batch, and a run resumed at step s continues with `start_step=s` (no
iterator state to save). Batches are host batches (uint8 images, see `preprocess.Preprocessing`); the step
applies `preprocess.on_device`.

Parallelism (`workers.resolve`): `num_workers` worker processes (Grain `mp_prefetch`; each builds whole
batches) times `num_threads` threads per process; 0 and 0 builds batches in the caller's thread. Threads
in the caller's process set its BLAS to one thread (`workers.limit_blas_threads`); workers set their own.
Close an iterator (`.close()`) to stop its workers; they also die with the process, and ignore SIGINT and
SIGTERM (`workers`).
"""

import functools
import os
from typing import NamedTuple

import grain
import numpy as np

from cnnjax.data import workers
from cnnjax.data.preprocess import Preprocessing
from cnnjax.errors import InvalidInputError

_BATCHES_AHEAD_PER_THREAD = 2
_BATCHES_AHEAD_PER_WORKER = 2


class HostShare(NamedTuple):
    """What this process reads of each global batch (share `process_index` of `process_count`) and how it builds
    it (`num_workers` worker processes times `num_threads` threads; `workers.resolve`)."""

    process_index: int = 0
    process_count: int = 1
    num_workers: int = 0
    num_threads: int = 0


def train_batches(
    source,
    *,
    preprocess: Preprocessing,
    global_batch_size: int,
    seed: int,
    start_step: int = 0,
    share: HostShare = HostShare(),
) -> workers.ShieldedIterator:
    """This process's endless local batches from global batch `start_step` on (module docstring)."""
    local = _local_train_stream(source, preprocess, global_batch_size, seed, share)
    return workers.ShieldedIterator(_parallel(local[_check_start(start_step) :], share))


def stacked_train_batches(
    source,
    *,
    preprocess: Preprocessing,
    global_batch_size: int,
    seeds: tuple[int, ...],
    start_step: int,
    share: HostShare,
) -> workers.ShieldedIterator:
    """The batches of `train_batches` for each of `seeds`, stacked on a stream axis after the batch axis: every
    array is (L, len(seeds), ...), its [:, i] the batch `train_batches(seed=seeds[i])` yields (vmapped seeds)."""
    first, *others = (_local_train_stream(source, preprocess, global_batch_size, seed, share) for seed in seeds)

    def stack(index, batch):
        batches = [batch, *(stream[index] for stream in others)]
        return {key: np.stack([b[key] for b in batches], axis=1) for key in batch}

    local = first.map_with_index(stack)
    return workers.ShieldedIterator(_parallel(local[_check_start(start_step) :], share))


def _local_train_stream(source, preprocess: Preprocessing, global_batch_size: int, seed: int, share: HostShare):
    """This process's local batches of the stream of `seed`, from global batch 0 (an endless `MapDataset`)."""
    local_batch_size = _local_batch_size(global_batch_size, share.process_count)

    def load(position, example):
        return preprocess.apply(example, np.random.default_rng([seed, position]))

    # Grain reshuffles epoch e with seed (shuffle_seed + e); hashing `seed` keeps runs with
    # neighbouring seeds from sharing permutations an epoch apart.
    shuffle_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    stream = grain.MapDataset.source(source).shuffle(seed=shuffle_seed).repeat()
    stream = stream.map_with_index(load)
    # Chunk c of L positions is process c % P's share of global batch c // P.
    return stream.batch(local_batch_size)[share.process_index :: share.process_count]


def _check_start(start_step: int) -> int:
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    return start_step


def eval_batches(
    source, *, preprocess: Preprocessing, global_batch_size: int, share: HostShare = HostShare()
) -> workers.ShieldedIterable:
    """This process's share of the split, in order, as host batches with a 'mask' (re-iterable).

    The split is padded to whole global batches; padding repeats real examples with mask 0.0, so
    over all processes and batches each example appears exactly once with mask 1.0.
    """
    local_batch_size = _local_batch_size(global_batch_size, share.process_count)
    size = len(source)
    padded_size = -(-size // global_batch_size) * global_batch_size

    def load(index):
        batch = preprocess.apply(source[index % size])
        batch["mask"] = np.float32(index < size)
        return batch

    positions = grain.MapDataset.range(padded_size).map(load)
    local = positions.batch(local_batch_size)[share.process_index :: share.process_count]
    return workers.ShieldedIterable(_parallel(local, share))


def _local_batch_size(global_batch_size: int, process_count: int) -> int:
    if global_batch_size % process_count:
        raise InvalidInputError(
            f"global_batch_size {global_batch_size} is not divisible by the {process_count} processes."
        )
    return global_batch_size // process_count


def _parallel(batches: grain.MapDataset, share: HostShare) -> grain.IterDataset:
    """Batches built by `num_threads` threads in each of `num_workers` processes (0: in the caller)."""
    num_workers, num_threads = workers.resolve(share.num_workers, share.num_threads)
    if num_threads and not num_workers:
        workers.limit_blas_threads()
    options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=_BATCHES_AHEAD_PER_THREAD * num_threads)
    iterable = batches.to_iter_dataset(options)
    if num_workers:
        workers.ready_absl_flags()
        workers.quiet_shared_memory_tracker()
        iterable = iterable.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=num_workers, per_worker_buffer_size=_BATCHES_AHEAD_PER_WORKER),
            worker_init_fn=functools.partial(workers.init_worker, os.getpid()),
        )
    return iterable

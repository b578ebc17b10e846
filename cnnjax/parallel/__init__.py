"""Device placement, per-device step mapping (shard_map inside jit), prefetch, and multi-process start-up."""

from cnnjax.parallel.data_parallel import AXIS, PER_DEVICE, REPLICATED, SHARDED, DataParallel, select_devices
from cnnjax.parallel.distributed import initialize_distributed
from cnnjax.parallel.prefetch import DevicePrefetch

__all__ = [
    "AXIS",
    "PER_DEVICE",
    "REPLICATED",
    "SHARDED",
    "DataParallel",
    "DevicePrefetch",
    "initialize_distributed",
    "select_devices",
]

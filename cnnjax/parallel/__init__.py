"""Device placement, per-device step mapping (pmap or shard_map) and multi-process start-up."""

from cnnjax.parallel.data_parallel import AXIS, DataParallel, select_devices
from cnnjax.parallel.distributed import initialize_distributed

__all__ = ["AXIS", "DataParallel", "initialize_distributed", "select_devices"]

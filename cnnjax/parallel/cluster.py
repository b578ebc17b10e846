"""Which multi-process job this process belongs to, read from its environment (no network, no JAX).

:func:`detect_cluster` recognises:

- a SLURM job step of more than one task: ``SLURM_STEP_NODELIST`` and ``SLURM_PROCID`` set (inside
  ``srun``), and ``SLURM_STEP_NUM_TASKS`` (else ``SLURM_NTASKS``) above 1; the process id is
  ``SLURM_PROCID``.  A batch script's own shell (no ``srun``) is one process, not a cluster.
- a multi-host TPU slice or multislice: ``TPU_WORKER_HOSTNAMES`` (or ``TPU_PROCESS_ADDRESSES``)
  listing more than one host, or ``MEGASCALE_NUM_SLICES`` above 1.  TPU VMs that publish their
  workers only through the GCE metadata server are not recognised: set
  ``parallel.auto_initialize='on'`` there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple


class Cluster(NamedTuple):
    kind: str  # 'slurm' or 'tpu'
    num_processes: int | None  # None: left to jax.distributed's own detection
    process_id: int | None


def detect_cluster(environ: Mapping[str, str] = os.environ) -> Cluster | None:
    """The multi-process job of this process (module docstring), or ``None``."""
    if "SLURM_STEP_NODELIST" in environ and "SLURM_PROCID" in environ:
        tasks = int(environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS") or 1)
        if tasks > 1:
            return Cluster("slurm", tasks, int(environ["SLURM_PROCID"]))
    hosts = environ.get("TPU_PROCESS_ADDRESSES") or environ.get("TPU_WORKER_HOSTNAMES") or ""
    if len([h for h in hosts.split(",") if h]) > 1 or int(environ.get("MEGASCALE_NUM_SLICES") or 1) > 1:
        return Cluster("tpu", None, None)
    return None

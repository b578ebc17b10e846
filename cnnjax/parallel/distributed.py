"""Multi-process start-up through `jax.distributed` (TPU pods, SLURM GPU clusters, local processes).

`parallel.auto_initialize`, one of `AUTO_INITIALIZE`:
- 'auto' (default): join the cluster `cnnjax.parallel.cluster.detect_cluster` finds in the environment (SLURM
  step of several tasks, multi-host TPU slice); none found: a single process, or the explicit fields below;
- 'on': always `jax.distributed.initialize()`, JAX detecting the cluster (e.g. TPU VMs known only to the GCE
  metadata server);
- 'off': never detect; `coordinator_address`, `num_processes` and `process_id` name the processes.
Explicit fields (`num_processes > 1`) take precedence over 'auto'. A process that is one task of a detected
multi-process job but would run alone ('off' without explicit fields) is refused: the job's N tasks would
be N independent runs into one workdir.
"""

import jax

from cnnjax.errors import InvalidInputError
from cnnjax.parallel.cluster import Cluster, detect_cluster

AUTO_INITIALIZE = ("auto", "on", "off")


def initialize_distributed(parallel_config, cluster: Cluster | None = None) -> None:
    """Joins the multi-process run the config and the environment describe (module docstring); a no-op
    for a single process. Must run before any other JAX call. `cluster`: default `detect_cluster()`."""
    c = parallel_config
    if c.auto_initialize not in AUTO_INITIALIZE:
        raise InvalidInputError(
            f"parallel.auto_initialize is {c.auto_initialize!r}; choose one of {', '.join(AUTO_INITIALIZE)}"
        )
    cluster = detect_cluster() if cluster is None else cluster
    explicit = c.num_processes > 1
    if explicit and c.auto_initialize == "on":
        raise InvalidInputError(
            "parallel.auto_initialize='on' lets JAX find the processes: leave parallel.num_processes at 1"
        )
    if explicit:
        if not c.coordinator_address:
            raise InvalidInputError("parallel.num_processes > 1 needs parallel.coordinator_address ('host:port')")
        if not 0 <= c.process_id < c.num_processes:
            raise InvalidInputError(f"parallel.process_id={c.process_id} is outside [0, {c.num_processes})")
        _initialize(coordinator_address=c.coordinator_address, num_processes=c.num_processes, process_id=c.process_id)
    elif c.auto_initialize == "on":
        _initialize()
    elif cluster is not None and c.auto_initialize == "auto":
        _initialize(num_processes=cluster.num_processes, process_id=cluster.process_id)
    elif cluster is not None:
        task = f"task {cluster.process_id} of {cluster.num_processes}" if cluster.num_processes else "one host"
        raise InvalidInputError(
            f"this process is {task} of a {cluster.kind} job but parallel.auto_initialize='off' makes it a "
            "single-process run (each task would train alone into the same workdir); set "
            "parallel.auto_initialize='auto', or launch one task"
        )


def _initialize(**kwargs) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only; GPUs use NCCL
    jax.distributed.initialize(**kwargs)

"""Multi-process start-up through `jax.distributed` (TPU pods, SLURM GPU clusters, local processes)."""

import jax


def initialize_distributed(parallel_config) -> None:
    """Joins a multi-process run when the config asks for one; a no-op for a single process.

    Must run before any other JAX call. `auto_initialize` lets JAX detect the cluster (SLURM, TPU pod);
    otherwise `coordinator_address`, `num_processes` and `process_id` name it explicitly.
    """
    c = parallel_config
    if c.auto_initialize:
        jax.distributed.initialize()
        return
    if c.num_processes == 1:
        return
    if not c.coordinator_address:
        raise ValueError("parallel.num_processes > 1 needs parallel.coordinator_address ('host:port')")
    if not 0 <= c.process_id < c.num_processes:
        raise ValueError(f"parallel.process_id={c.process_id} is outside [0, {c.num_processes})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only; GPUs use NCCL
    jax.distributed.initialize(
        coordinator_address=c.coordinator_address, num_processes=c.num_processes, process_id=c.process_id
    )

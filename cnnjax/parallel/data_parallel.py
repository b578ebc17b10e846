"""Data parallelism: one per-device step, mapped by `jax.pmap` or by `jax.shard_map` under `jax.jit`.

Layout shared by both mappers: every array the step sees is a global `jax.Array` whose leading axis
indexes devices, sharded as `NamedSharding(mesh, P('data'))`. Replicated values (params, optimizer
state) hold one copy per device; per-device values (BatchNorm statistics kept per device, metrics)
hold each device's own. Inside the step, code is written per device with named-axis collectives over
`AXIS` ('data'); gradients are averaged with `lax.pmean(grad(local_loss), AXIS)`, which is the
1-device gradient of the global batch under both mappers (shard_map runs with `check_vma=False`:
with `check_vma=True` the gradient of a replicated parameter arrives already summed, 4× too large).
"""

from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "data"


class DataParallel:
    """Places host data on the devices and maps per-device functions over them."""

    def __init__(self, backend: str, devices: Sequence[jax.Device] | None = None):
        if backend not in ("pmap", "shard_map"):
            raise ValueError(f"unknown parallel backend {backend!r}; choose 'pmap' or 'shard_map'")
        self.backend = backend
        self.devices = list(devices) if devices is not None else jax.devices()
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self.sharding = NamedSharding(self.mesh, P(AXIS))
        self.local_devices = [d for d in self.devices if d.process_index == jax.process_index()]

    @property
    def num_devices(self) -> int:
        return len(self.devices)

    @property
    def num_local_devices(self) -> int:
        return len(self.local_devices)

    def check_batch_size(self, global_batch_size: int, what: str = "batch size") -> None:
        """Raises a clear error unless the global batch splits evenly over processes and devices."""
        if global_batch_size % self.num_devices:
            raise ValueError(
                f"{what} {global_batch_size} is not divisible by the number of devices ({self.num_devices}); "
                f"use a multiple of {self.num_devices}"
            )
        if global_batch_size % jax.process_count():
            raise ValueError(
                f"{what} {global_batch_size} is not divisible by the process count ({jax.process_count()})"
            )

    def replicate(self, tree):
        """Host pytree → one copy per device (leading device axis)."""
        n = self.num_local_devices
        return jax.tree.map(lambda x: self._put(np.broadcast_to(np.asarray(x), (n, *np.shape(x)))), tree)

    def shard_batch(self, local_batch):
        """This process's batch (leading axis L) → per-device slices (leading axes: device, L / local devices)."""
        n = self.num_local_devices
        return jax.tree.map(lambda x: self._put(x.reshape(n, x.shape[0] // n, *x.shape[1:])), local_batch)

    def first(self, tree):
        """Device-stacked pytree → host numpy copy of this process's first device's entry."""
        return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)[0], tree)

    def map(
        self, per_device_fn: Callable, donate_argnums: tuple[int, ...] = (), compiler_options: dict | None = None
    ) -> Callable:
        """Maps `per_device_fn` (written for one device, collectives over AXIS) over the device axis, compiled
        with XLA `compiler_options` (e.g. `cnnjax.cpu_runtime.compiler_options(platform)`)."""
        if self.backend == "pmap":
            mapped = jax.pmap(per_device_fn, axis_name=AXIS, devices=self.devices, donate_argnums=donate_argnums)
            return _compiled_on_first_call(mapped, compiler_options) if compiler_options else mapped

        def on_one_device(*args):
            squeezed = jax.tree.map(lambda x: x[0], args)
            return jax.tree.map(lambda x: x[None], per_device_fn(*squeezed))

        mapped = jax.shard_map(on_one_device, mesh=self.mesh, in_specs=P(AXIS), out_specs=P(AXIS), check_vma=False)
        return jax.jit(mapped, donate_argnums=donate_argnums, compiler_options=compiler_options)

    def _put(self, local: np.ndarray) -> jax.Array:
        return jax.make_array_from_process_local_data(self.sharding, np.ascontiguousarray(local))


def _compiled_on_first_call(pmapped: Callable, compiler_options: dict) -> Callable:
    """`pmapped` compiled with `compiler_options` for the arguments of its first call (`jax.pmap` takes no
    compiler options); later calls must pass arguments of the same shapes."""
    compiled = None

    def call(*args):
        nonlocal compiled
        if compiled is None:
            compiled = pmapped.lower(*args).compile(compiler_options=compiler_options)
        return compiled(*args)

    return call


def select_devices(num_devices: int) -> list[jax.Device]:
    """All devices (0), or the first `num_devices` of a single-process run."""
    devices = jax.devices()
    if num_devices == 0:
        return devices
    if jax.process_count() > 1:
        raise ValueError("parallel.num_devices must be 0 (all devices) in a multi-process run")
    if num_devices > len(devices):
        raise ValueError(f"parallel.num_devices={num_devices} but only {len(devices)} devices are visible")
    return devices[:num_devices]

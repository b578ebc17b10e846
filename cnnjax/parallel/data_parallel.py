"""Data parallelism: one per-device step, mapped by `jax.shard_map` inside `jax.jit` over a ('data',) mesh.

Every value the step sees is a global `jax.Array` over all devices of all processes, in one of three layouts:

- `REPLICATED` (`P()`): one logical value, a full copy on every device — params, optimizer state, synced
  BatchNorm statistics, the step counter, metrics.
- `SHARDED` (`P('data')`): a batch; its leading axis (the global batch) is split over the devices.
- `PER_DEVICE` (`P('data')` over a leading device axis of length `num_devices`): values each device keeps
  for itself — BatchNorm statistics that are not synced. The per-device function sees one entry, without
  the device axis.

Inside the step, code is written per device with named-axis collectives over `AXIS`; gradients are averaged
with `lax.pmean(grad(local_loss), AXIS)`, the 1-device gradient of the global batch (shard_map runs with
`check_vma=False`: with `check_vma=True` the gradient of a replicated parameter arrives already summed).
A replicated output is taken from the devices as one value, so the step must make it equal on every device
(a `pmean` / `psum`, or a function of replicated inputs only). Checkpoints hold the canonical form (every
leaf replicated, per-device values averaged), so they restore on any number of devices and processes.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from cnnjax.errors import InvalidInputError

AXIS = "data"
REPLICATED, SHARDED, PER_DEVICE = "replicated", "sharded", "per_device"
_SPECS = {REPLICATED: P(), SHARDED: P(AXIS), PER_DEVICE: P(AXIS)}


class DataParallel:
    """Places host data on the devices, maps per-device functions over them, and reads results back."""

    def __init__(self, devices: Sequence[jax.Device] | None = None):
        self.devices = list(devices) if devices is not None else jax.devices()
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self.local_devices = [d for d in self.devices if d.process_index == jax.process_index()]

    @property
    def platform(self) -> str:
        """The platform the mapped functions compile for ('cpu', 'gpu', 'tpu')."""
        return self.devices[0].platform

    @property
    def num_devices(self) -> int:
        return len(self.devices)

    @property
    def num_local_devices(self) -> int:
        return len(self.local_devices)

    def sharding(self, layout: str) -> NamedSharding:
        return NamedSharding(self.mesh, _SPECS[layout])

    def check_batch_size(self, global_batch_size: int, what: str = "batch size") -> None:
        """Raises a clear error unless the global batch splits evenly over processes and devices."""
        if global_batch_size % self.num_devices:
            raise InvalidInputError(
                f"{what} {global_batch_size} is not divisible by the number of devices ({self.num_devices}); "
                f"use a multiple of {self.num_devices}"
            )
        if global_batch_size % jax.process_count():
            raise InvalidInputError(
                f"{what} {global_batch_size} is not divisible by the process count ({jax.process_count()})"
            )

    def put(self, tree, layouts=REPLICATED):
        """Host pytree (the same on every process) → global arrays; `layouts` is a prefix of `tree` naming
        each leaf's layout (REPLICATED or PER_DEVICE: every device gets its own copy of the host value)."""

        def place(layout, x):
            x = np.asarray(x)
            if layout == PER_DEVICE:
                x = np.broadcast_to(x, (self.num_devices, *x.shape))
            return jax.make_array_from_callback(x.shape, self.sharding(layout), lambda index: x[index])

        return jax.tree.map(place, jax.tree.broadcast(layouts, tree), tree)

    def shard_batch(self, local_batch):
        """This process's share of a global batch (leading axis L = global batch / processes) → SHARDED arrays."""
        sharding = self.sharding(SHARDED)
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(sharding, np.ascontiguousarray(x)), local_batch
        )

    def to_host(self, tree):
        """Global arrays → host numpy: a replicated leaf's value, or the whole array where this process holds
        all of it (one process: PER_DEVICE leaves come back with their device axis)."""

        def fetch(x):
            if x.sharding.is_fully_replicated:
                return np.asarray(x.addressable_data(0))
            if x.is_fully_addressable:
                return np.asarray(x)
            raise ValueError(f"a {x.shape} array sharded over several processes has no single host copy")

        return jax.tree.map(fetch, tree)

    def map(
        self,
        per_device_fn: Callable,
        in_layouts: tuple,
        out_layouts,
        donate_argnums: tuple[int, ...] = (),
        compiler_options: dict | None = None,
    ) -> Callable:
        """Maps `per_device_fn` (written for one device, collectives over AXIS) over the mesh, jitted.

        `in_layouts` has one layout prefix per positional argument, `out_layouts` one for the output.
        """

        def on_one_device(*args):
            args = jax.tree.map(_enter, jax.tree.broadcast(in_layouts, args), args)
            out = per_device_fn(*args)
            return jax.tree.map(_leave, jax.tree.broadcast(out_layouts, out), out)

        in_specs = jax.tree.map(_SPECS.get, in_layouts)
        out_specs = jax.tree.map(_SPECS.get, out_layouts)
        mapped = jax.shard_map(on_one_device, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
        return jax.jit(mapped, donate_argnums=donate_argnums, compiler_options=compiler_options or None)

    def canonicalizer(self, layouts) -> Callable:
        """A map from trees in `layouts` to the canonical form (what checkpoints hold): every PER_DEVICE leaf
        averaged over the devices, every leaf REPLICATED; the identity when no leaf is PER_DEVICE."""
        if PER_DEVICE not in jax.tree.leaves(layouts):
            return lambda tree: tree
        return jax.jit(
            lambda tree: _per_device_leaves(lambda x: jnp.mean(x, axis=0), tree, layouts),
            out_shardings=self.sharding(REPLICATED),
        )

    def expander(self, layouts) -> Callable:
        """A map from a canonical tree to `layouts`: each PER_DEVICE leaf copied to every device."""
        if PER_DEVICE not in jax.tree.leaves(layouts):
            return lambda tree: tree
        n = self.num_devices

        def expand(tree):
            return _per_device_leaves(lambda x: jnp.broadcast_to(x, (n, *x.shape)), tree, layouts)

        def shardings(tree):
            return jax.tree.map(self.sharding, jax.tree.broadcast(layouts, tree))

        return lambda tree: jax.jit(expand, out_shardings=shardings(tree))(tree)


def _per_device_leaves(fn: Callable, tree, layouts):
    """`fn` applied to the PER_DEVICE leaves of `tree`, the others unchanged."""
    return jax.tree.map(lambda layout, x: fn(x) if layout == PER_DEVICE else x, jax.tree.broadcast(layouts, tree), tree)


def _enter(layout: str, x):
    return x[0] if layout == PER_DEVICE else x


def _leave(layout: str, x):
    return x[None] if layout == PER_DEVICE else x


def select_devices(num_devices: int) -> list[jax.Device]:
    """All devices (0), or the first `num_devices` of a single-process run."""
    devices = jax.devices()
    if num_devices == 0:
        return devices
    if jax.process_count() > 1:
        raise InvalidInputError("parallel.num_devices must be 0 (all devices) in a multi-process run")
    if num_devices > len(devices):
        raise InvalidInputError(f"parallel.num_devices={num_devices} but only {len(devices)} devices are visible")
    return devices[:num_devices]

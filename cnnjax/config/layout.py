"""Whether a config's batches fit a device layout, checked before anything is compiled.

:func:`check_layout` is what ``cnnjax train`` checks at start-up with the real device and process
counts, and what the tests check every shipped experiment against for other counts.  Rules:

- every process drives the same number of devices;
- ``train.batch_size`` and ``train.eval_batch_size`` are global: each is split evenly over the
  devices (and so over the processes);
- ``parallel.bn_group_size`` > 0 groups must tile the per-device training batch
  (:func:`check_group_size`).
"""

from __future__ import annotations

from cnnjax.config.loading import ConfigError
from cnnjax.errors import InvalidInputError


def check_group_size(group_size: int, per_device_batch: int, num_devices: int) -> None:
    """Raises :class:`~cnnjax.errors.InvalidInputError` (a ``ValueError``) unless BatchNorm groups of
    ``group_size`` images tile the batch:
    ``group_size`` divides ``per_device_batch`` (groups within a device), or is
    ``k x per_device_batch`` with ``k`` dividing ``num_devices`` (one group per ``k`` devices)."""
    if group_size < 1:
        raise InvalidInputError(f"BatchNorm group size must be positive, got {group_size}")
    if per_device_batch % group_size == 0:
        return
    devices_per_group, rest = divmod(group_size, per_device_batch)
    if rest == 0 and num_devices % devices_per_group == 0:
        return
    raise InvalidInputError(
        f"BatchNorm groups of {group_size} images do not tile a per-device batch of {per_device_batch} "
        f"on {num_devices} devices: use a divisor of {per_device_batch}, or {per_device_batch} x a divisor "
        f"of {num_devices}"
    )


def check_layout(config, num_devices: int, num_processes: int = 1) -> None:
    """Raises :class:`~cnnjax.config.ConfigError` (a ``ValueError``; one line, naming the config key)
    unless ``config`` runs on
    ``num_devices`` devices over ``num_processes`` processes (module docstring)."""
    if num_devices < 1 or num_processes < 1 or num_devices % num_processes:
        raise ConfigError(f"{num_devices} devices cannot be split evenly over {num_processes} processes")
    for key in ("batch_size", "eval_batch_size"):
        batch = config.train[key]
        if batch % num_devices:
            raise ConfigError(
                f"config.train.{key}={batch} does not split over {num_devices} devices: use a multiple of {num_devices}"
            )
    micro = config.train.accumulation_steps
    if (config.train.batch_size // num_devices) % micro:
        raise ConfigError(
            f"config.train.accumulation_steps={micro} does not split the per-device batch of "
            f"{config.train.batch_size // num_devices} ({num_devices} devices) into equal micro-batches"
        )
    group = config.parallel.bn_group_size
    if group:
        try:
            check_group_size(group, config.train.batch_size // num_devices, num_devices)
        except ValueError as e:
            raise ConfigError(f"config.parallel.bn_group_size={group}: {e}") from None

"""Running cnnjax (or a worker script) in a fresh process with N emulated CPU devices."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

REPO = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "workers"

# A small, quick digits run used by the resume and multi-process tests.
TINY_RUN = [
    "--config.model.overrides.widths=(8, 16)",
    "--config.model.overrides.convs_per_stage=1",
    "--config.train.batch_size=32",
    "--config.train.eval_batch_size=64",
    "--config.train.log_every_steps=1",
    "--config.train.eval_every_steps=0",
]


def device_env(num_devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices}"
    env["JAX_PLATFORMS"] = "cpu"  # emulated CPU devices, also on a machine with a GPU
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("CNNJAX_TRACEBACK", None)
    return env


# Test runs build batches in the trainer (worker processes take seconds to start); a test's own
# overrides come after, so the tests of data workers turn them on.
IN_TRAINER_DATA = ("dataset.num_workers=0",)


def cnnjax_train_command(config: str, workdir, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cnnjax.cli",
        "train",
        "--config",
        str(REPO / config),
        "--workdir",
        str(workdir),
        *[f"--config.{o}" for o in IN_TRAINER_DATA],
        *overrides,
    ]


def run(command: list[str], num_devices: int = 1, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs to completion; returns the completed process (stdout and stderr as text)."""
    return subprocess.run(
        command, env=device_env(num_devices), capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def start(command: list[str], num_devices: int = 1, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command, env=device_env(num_devices), text=True, cwd=REPO, **kwargs)


def run_worker(name: str, num_devices: int, *args: str, timeout: float = 600) -> str:
    """Runs tests/workers/NAME.py, which asserts inside; returns its stdout, failing with its output."""
    done = run([sys.executable, str(WORKERS / f"{name}.py"), *args], num_devices, timeout)
    assert done.returncode == 0, f"worker {name} failed:\n{done.stdout}\n{done.stderr[-6000:]}"
    return done.stdout


def read_checkpoint_state(workdir, step: int) -> dict:
    """The saved train state at `step`, as nested dicts of numpy arrays."""
    path = Path(workdir) / "checkpoints" / str(step) / "state"
    checkpointer = ocp.StandardCheckpointer()
    here = jax.sharding.SingleDeviceSharding(jax.devices()[0])  # whatever topology saved it
    target = jax.tree.map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=here), checkpointer.metadata(path).item_metadata.tree
    )
    return _to_numpy(checkpointer.restore(path, target))


def _to_numpy(tree):
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_to_numpy(v) for v in tree]
    return np.asarray(tree)

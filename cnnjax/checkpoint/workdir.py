"""One workdir holds one run: its resolved config is stored there and a different config is refused.

The workdir is checked (a writable directory, or one that can be made) before anything is written, and
claimed only under its lock (`cnnjax.checkpoint.lock`), so two launches cannot both pass the check.
"""

import json
import os

from cnnjax.config.schema import with_defaults
from cnnjax.errors import WorkdirConflictError, WorkdirError

# How a run is launched, not what it computes (batches do not depend on the device or process count; the
# divergence policy only matters once a step is non-finite): these may differ between processes and restarts.
LAUNCH_KEYS = (
    "parallel.num_devices",
    "parallel.coordinator_address",
    "parallel.num_processes",
    "parallel.process_id",
    "parallel.auto_initialize",
    "train.nonfinite",
    "dataset.num_workers",
    "dataset.num_threads",
)
CONFIG_FILE = "config.json"


def check_workdir_path(workdir: str) -> None:
    """Raises WorkdirError unless `workdir` is a writable directory or can be created as one. Writes nothing."""
    if os.path.exists(workdir):
        if not os.path.isdir(workdir):
            raise WorkdirError(f"--workdir {workdir} is a file, not a directory")
        if not os.access(workdir, os.W_OK | os.X_OK):
            raise WorkdirError(f"--workdir {workdir} is not writable ({_why_not_writable(workdir)})")
        return
    parent = os.path.dirname(os.path.abspath(workdir))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise WorkdirError(f"--workdir {workdir} cannot be created: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WorkdirError(f"--workdir {workdir} cannot be created in {parent} ({_why_not_writable(parent)})")


def _why_not_writable(path: str) -> str:
    return "a read-only filesystem" if os.statvfs(path).f_flag & os.ST_RDONLY else "no write permission"


def claim_workdir(workdir: str, config_dict: dict, is_primary: bool) -> bool:
    """Stores the config in `workdir/config.json`, or checks that it matches the stored one.

    Returns True when the workdir already held this run (a resume). Raises WorkdirConflictError,
    naming the differing keys, when it held another run. Nothing in the workdir is changed then.
    """
    path = os.path.join(workdir, CONFIG_FILE)
    current = json.loads(json.dumps(config_dict))  # tuples → lists, as stored
    if os.path.exists(path):
        with open(path) as f:
            stored = with_defaults(json.load(f))
        differences = _differences(_without_launch_keys(stored), _without_launch_keys(current))
        if differences:
            shown = "\n".join(f"  {key}: stored {a!r}, now {b!r}" for key, a, b in differences[:10])
            raise WorkdirConflictError(
                f"workdir {workdir} holds another run with a different config:\n{shown}\n"
                "Use a new --workdir, or launch the same config to resume that run."
            )
        return True
    if is_primary:
        os.makedirs(workdir, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(current, f, indent=2, sort_keys=True)
        os.replace(path + ".tmp", path)
    return False


def _without_launch_keys(config: dict) -> dict:
    launch = {tuple(key.split(".")) for key in LAUNCH_KEYS}
    return {
        section: {k: v for k, v in value.items() if (section, k) not in launch} if isinstance(value, dict) else value
        for section, value in config.items()
    }


def _differences(stored, current, prefix: str = "") -> list[tuple[str, object, object]]:
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(stored) | set(current)):
            out += _differences(stored.get(key, "<absent>"), current.get(key, "<absent>"), f"{prefix}{key}.")
        return out
    return [] if stored == current else [(prefix.rstrip("."), stored, current)]

"""A SLURM sweep's job options: the sweep file's optional `get_slurm(arg=None)` (a dict), then the command
line's `--slurm_*` options, which win key by key (`additional`: sbatch flag by flag).

Keys (`OPTION_TYPES`): `partition`, `time` (minutes; required: the job's limit, also the requeue clock),
`gpus_per_task`, `cpus_per_task`, `mem` (sbatch's `--mem`, e.g. `32G`) and `additional` (sbatch flags
without their `--`, e.g. `{"account": "lab", "qos": "high"}`: submitit's `slurm_additional_parameters`).
"""

from cnnjax.config.loading import call_with_arg, load_module
from cnnjax.errors import InvalidInputError
from cnnjax.sweep.definition import SweepDefinitionError

OPTION_TYPES = {
    "partition": str,
    "time": int,
    "gpus_per_task": int,
    "cpus_per_task": int,
    "mem": str,
    "additional": dict,
}
SLURM_FUNCTION = "get_slurm"


def slurm_options(spec: str, command_line: dict) -> dict:
    """The options (module docstring) of the sweep file `spec` with the command line's (None: not given)."""
    path, _, arg = spec.partition(":")
    module = load_module(path)
    from_file = call_with_arg(module, SLURM_FUNCTION, path, arg) if hasattr(module, SLURM_FUNCTION) else {}
    if not isinstance(from_file, dict):
        raise SweepDefinitionError(f"{path}: {SLURM_FUNCTION}() must return a dict, got {type(from_file).__name__}")
    for key, value in from_file.items():
        if key not in OPTION_TYPES:
            known = ", ".join(OPTION_TYPES)
            raise SweepDefinitionError(f"{path}: {SLURM_FUNCTION}() key {key!r} is not one of {known}")
        if not isinstance(value, OPTION_TYPES[key]) or isinstance(value, bool):
            expected = OPTION_TYPES[key].__name__
            raise SweepDefinitionError(f"{path}: {SLURM_FUNCTION}() {key!r} must be a {expected}, got {value!r}")
    given = {key: value for key, value in command_line.items() if value is not None}
    options = {**from_file, **given, "additional": {**from_file.get("additional", {}), **given.get("additional", {})}}
    if "time" not in options:
        raise InvalidInputError(f"--executor slurm needs --slurm_time MINUTES (or 'time' in {SLURM_FUNCTION}())")
    return options


def additional_flags(key_values: list[str]) -> dict[str, str]:
    """`--slurm_additional KEY=VALUE` options as a dict."""
    flags = {}
    for key_value in key_values:
        key, sep, value = key_value.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--slurm_additional takes KEY=VALUE (sbatch's --KEY=VALUE), got {key_value!r}")
        flags[key] = value
    return flags


def submitit_parameters(options: dict, job_name: str, parallel: int | None) -> dict:
    """`submitit.AutoExecutor.update_parameters` keywords for `options`; `parallel` caps the array's tasks
    running at once (None: SLURM's and submitit's limits)."""
    parameters = {
        "name": job_name,
        "timeout_min": options["time"],
        "slurm_partition": options.get("partition"),
        "slurm_gpus_per_task": options.get("gpus_per_task"),
        "slurm_cpus_per_task": options.get("cpus_per_task"),
        "slurm_mem": options.get("mem"),
        "slurm_additional_parameters": options["additional"] or None,
        "slurm_array_parallelism": parallel,
    }
    return {key: value for key, value in parameters.items() if value is not None}

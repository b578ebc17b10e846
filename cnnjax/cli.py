"""The `cnnjax` command: argument parsing, and nothing else.

cnnjax train --config experiments/FILE.py[:arg] --workdir DIR [--config.a.b=value ...]
cnnjax data prepare NAME [--data_dir DIR]
"""

import argparse
import os
import sys
import threading

from cnnjax import errors
from cnnjax.config import ConfigError, load_config
from cnnjax.data.catalog import DatasetNotPreparedError, prepare, resolve_data_dir

USER_ERRORS = (
    ConfigError,
    DatasetNotPreparedError,
    ValueError,
    errors.WorkdirError,
    errors.WorkdirConflictError,
    errors.WorkdirLockedError,
    errors.RunWriteError,
    errors.CheckpointSaveError,
    errors.CheckpointRestoreError,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnjax", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train an experiment config")
    train.add_argument("--config", required=True, help="experiments/FILE.py or FILE.py:arg")
    train.add_argument("--workdir", required=True, help="run directory: checkpoints, metrics, plots")
    data = commands.add_parser("data", help="dataset commands")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    prep = data_commands.add_parser("prepare", help="prepare a dataset as array_record")
    prep.add_argument("name")
    prep.add_argument("--data_dir", default=None)
    return parser


def _split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separates `--config.a.b=value` (or `--config.a.b value`) overrides from the other arguments."""
    rest, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--config."):
            key_value = arg[len("--config.") :]
            if "=" not in key_value:
                if i + 1 >= len(argv):
                    raise ConfigError(f"{arg} needs a value: {arg}=VALUE")
                key_value, i = f"{key_value}={argv[i + 1]}", i + 1
            overrides.append(key_value)
        else:
            rest.append(arg)
        i += 1
    return rest, overrides


def _silence_background_write_failures() -> None:
    """Once a failed write to the workdir is reported, background writers (TensorBoard's thread and exit
    hook) failing on the same disk are not reported again with their tracebacks."""
    thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook
    threading.excepthook = lambda args: None if issubclass(args.exc_type, OSError) else thread_hook(args)
    sys.unraisablehook = lambda u: None if isinstance(u.exc_value, OSError) else unraisable_hook(u)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        rest, overrides = _split_overrides(argv)
        args = _parser().parse_args(rest)
        if args.command == "train":
            config = load_config(args.config, overrides)
            if config.runtime.tune_cpu:
                from cnnjax.cpu_runtime import tune_cpu_runtime

                for setting in tune_cpu_runtime():
                    print(f"cnnjax: CPU runtime: {setting}")
            from cnnjax.train.loop import run  # jax is imported only once the arguments are good

            summary = run(config, args.workdir)
            if summary["status"] == "preempted":
                by = "Ctrl-C" if summary["signal"] == "SIGINT" else summary["signal"]
                print(f"stopped by {by} at step {summary['step']}; run the same command to resume")
                return errors.EXIT_INTERRUPTED if summary["signal"] == "SIGINT" else 0
            if "line" in summary:
                print(summary["line"])
            return 0
        data_dir = resolve_data_dir(args.data_dir)
        info = prepare(args.name, data_dir)
        print(f"{args.name} is prepared in {data_dir}: splits {info.split_sizes}")
        return 0
    except (*USER_ERRORS, errors.DivergedError) as e:
        if os.environ.get("CNNJAX_TRACEBACK"):
            raise
        print(f"cnnjax: error: {e}", file=sys.stderr)
        if isinstance(e, errors.RunWriteError | errors.CheckpointSaveError):
            _silence_background_write_failures()
        return errors.EXIT_DIVERGED if isinstance(e, errors.DivergedError) else errors.EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("cnnjax: interrupted before training started; nothing was saved", file=sys.stderr)
        return errors.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

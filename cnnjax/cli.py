"""The `cnnjax` command: argument parsing, and nothing else.

cnnjax train --config experiments/FILE.py[:arg] --workdir DIR [--config.a.b=value ...]
cnnjax sweep run --config experiments/ablations/FILE.py[:arg] --workdir DIR [--seeds N] [--vmap_seeds] [--parallel K]
                 [--executor slurm --slurm_time MINUTES ...] [--config.a.b=value ...]
cnnjax sweep report DIR
cnnjax data prepare NAME [--data_dir DIR]
cnnjax benchmark --model NAME --batch N [--image_size S] [--dtype D] [--override.NAME=value ...] [--with_data FILE.py]
cnnjax summary MODEL|--config FILE.py[:arg]|--workdir DIR [--input HxWxC] [--batch N] [--dtype D] [--num_classes K]
               [--config.model.overrides.NAME=value ...] [--format table|json|csv]
cnnjax predict --workdir DIR IMAGE... [--out DIR] [--top_k K] [--class_maps] [--step N]
cnnjax visualize filters|features|maximize|saliency|adversarial|dream|style|counts --workdir DIR --out FILE.png [opts]
"""

import argparse
import ast
import dataclasses
import functools
import os
import sys
import threading

from cnnjax import errors
from cnnjax.compilation_cache import enable_compilation_cache
from cnnjax.config import ConfigError, load_config
from cnnjax.data.catalog import prepare, resolve_data_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnjax", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train an experiment config")
    train.add_argument("--config", required=True, help="experiments/FILE.py or FILE.py:arg")
    train.add_argument("--workdir", required=True, help="run directory: checkpoints, metrics, plots")
    sweep = commands.add_parser("sweep", help="ablation sweeps: a sweep file's points × seeds")
    sweep_commands = sweep.add_subparsers(dest="sweep_command", required=True)
    sweep_run = sweep_commands.add_parser("run", help="run (or resume) every run of a sweep")
    sweep_run.add_argument("--config", required=True, help="sweep file: get_config(arg=None) and get_sweep(arg=None)")
    sweep_run.add_argument("--workdir", required=True, help="sweep directory: DIR/<point>/seed<k>/, results.csv")
    sweep_run.add_argument(
        "--seeds", type=int, default=1, metavar="N", help="seeds 0..N-1 for each point that sets no seed"
    )
    sweep_run.add_argument(
        "--vmap_seeds",
        action="store_true",
        help="train the seeds of a point as one vmapped program (train.vmap_seeds), in the same run directories",
    )
    sweep_run.add_argument(
        "--executor", choices=("local", "slurm"), default="local", help="child processes here, or a SLURM job array"
    )
    sweep_run.add_argument(
        "--parallel",
        type=_positive_int,
        metavar="K",
        help="runs at once: local, K (default 1) each on 1/K of the CPUs and GPUs; slurm, the array's cap",
    )
    slurm = sweep_run.add_argument_group("--executor slurm (these win over the sweep file's get_slurm(arg=None))")
    slurm.add_argument("--slurm_partition", metavar="NAME", help="partition of the jobs")
    slurm.add_argument("--slurm_time", type=int, metavar="MINUTES", help="time limit of a job in minutes (required)")
    slurm.add_argument("--slurm_gpus_per_task", type=int, metavar="N", help="GPUs of each run")
    slurm.add_argument("--slurm_cpus_per_task", type=int, metavar="N", help="CPUs of each run")
    slurm.add_argument("--slurm_mem", metavar="SIZE", help="memory of each run, as sbatch --mem takes it (e.g. 32G)")
    slurm.add_argument(
        "--slurm_additional", action="append", default=[], metavar="KEY=VALUE", help="another sbatch flag (repeatable)"
    )
    sweep_report = sweep_commands.add_parser("report", help="rewrite DIR/results.csv, report.md and report.png")
    sweep_report.add_argument("workdir", help="sweep directory")
    data = commands.add_parser("data", help="dataset commands")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    prep = data_commands.add_parser("prepare", help="prepare a dataset as array_record")
    prep.add_argument("name")
    prep.add_argument("--data_dir", default=None)
    bench = commands.add_parser(
        "benchmark",
        help="time the train step of a model",
        epilog="model options: --override.NAME=value, e.g. --override.width=2 --override.stage_sizes='(1, 1, 1)'",
    )
    bench.add_argument("--model", required=True, help="a classification model of cnnjax.models.list_models()")
    bench.add_argument("--batch", type=int, required=True, help="global batch size")
    # Defaults (None here) are cnnjax.benchmark.BenchmarkSpec's.
    bench.add_argument("--image_size", type=int, help="square input size (default 224, or the --with_data config's)")
    bench.add_argument("--num_classes", type=int, help="default 1000, or the --with_data config's")
    bench.add_argument("--dtype", help="compute dtype: float32 (default), bfloat16 or float16")
    bench.add_argument("--steps", type=int, help="timed steps, after the warm-up steps")
    bench.add_argument("--with_data", help="experiment config whose input pipeline feeds the steps")
    bench.add_argument(
        "--remat",
        action="store_true",
        default=None,
        help="rematerialise the model's blocks; also reports the activation memory this saves",
    )
    bench.add_argument("--json", default=None, help="also write the figures to this JSON file")
    summ = commands.add_parser(
        "summary",
        help="per-layer table of a model: shapes, parameters, MACs, activation memory, receptive fields",
        epilog="model options: --config.model.overrides.NAME=value; with --config FILE, any --config.KEY=value",
    )
    summ.add_argument("model", nargs="?", help="a model of cnnjax.models.list_models() (input 224x224x3, 1000 classes)")
    summ.add_argument("--config", help="an experiment config, experiments/FILE.py or FILE.py:arg: its model and input")
    summ.add_argument("--workdir", help="a run directory: the model and input of the config stored there")
    summ.add_argument("--input", help="input size HxWxC, e.g. 32x32x3 (replaces the source's)")
    summ.add_argument("--batch", type=_positive_int, default=1, help="batch size of the traced input (default 1)")
    summ.add_argument("--dtype", help="compute dtype: float32, bfloat16, float16 or auto (replaces the source's)")
    summ.add_argument("--num_classes", type=_positive_int, help="classes of the head (replaces the source's)")
    summ.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    pred = commands.add_parser("predict", help="a trained run on image files of any size")
    pred.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    pred.add_argument("--workdir", required=True, help="the run's directory (its newest intact checkpoint)")
    pred.add_argument("--out", help="directory of predictions.json and the PNGs (default: WORKDIR/predictions)")
    pred.add_argument("--top_k", type=_positive_int, default=5, help="classes listed per image (classification)")
    pred.add_argument(
        "--class_maps",
        action="store_true",
        help="classification with a dense head: class probability maps of the image at its own size (PNG)",
    )
    pred.add_argument("--step", type=int, help="the checkpoint step (default: the newest intact one)")
    _visualize_parser(commands)
    return parser


def _visualize_parser(commands) -> None:
    """`cnnjax visualize`'s arguments; `cnnjax.inspect.visualize_command.TAKES` says which kind takes which."""
    vis = commands.add_parser(
        "visualize",
        help="what a trained CNN learns, as a PNG: filters, feature maps, activation maximisation, saliency, "
        "adversarial and fooling images, Deep Dream, style transfer; predicted vs true counts of a counting run",
        epilog="pixels are in [0, 1] units of the image the model is fed (before normalisation); "
        "lists are comma-separated (--channels 0,3,7)",
    )
    vis.add_argument("kind", help="filters | features | maximize | saliency | adversarial | dream | style | counts")
    vis.add_argument("--workdir", required=True, help="a cnnjax train run directory")
    vis.add_argument("--out", required=True, help="the PNG to write")
    vis.add_argument("--step", type=int, help="checkpoint step (default: the newest good one)")
    vis.add_argument("--split", default="test", help="dataset split of the examples (default test)")
    vis.add_argument("--index", type=_int_list, help="example indices in the split (default the first --count)")
    vis.add_argument("--count", type=_positive_int, help="number of examples (each kind has its default)")
    vis.add_argument("--image", help="an image file instead of dataset examples (content image for style)")
    vis.add_argument("--seed", type=int, default=0, help="random seed (noise, jitter, PGD start)")
    vis.add_argument("--layer", help="a layer: features-dict key, module path (c1, encoder1_conv1/conv) or logits")
    vis.add_argument("--layers", type=_name_list, help="layers of the feature maps (default the features dict)")
    vis.add_argument("--channels", type=_int_list, help="channels, or classes of the logits / saliency")
    vis.add_argument("--position", type=_int_list, help="maximize one neuron at ROW,COL of the layer's map")
    vis.add_argument("--steps", type=_positive_int, help="optimisation steps (per octave for dream)")
    vis.add_argument("--learning_rate", type=float, help="step size in pixel units")
    for prior in ("l1", "l2", "tv"):
        vis.add_argument(f"--{prior}", type=float, help=f"weight of the {prior.upper()} prior on pixels")
    vis.add_argument("--jitter", type=int, help="random shifts of up to this many pixels per step")
    vis.add_argument("--blur", type=float, help="Gaussian blur std in pixels, every 4 steps")
    vis.add_argument("--methods", type=_name_list, help="saliency methods: vanilla,smoothgrad,gradcam (default all)")
    vis.add_argument("--attack", help="pgd (default) or fgsm")
    vis.add_argument("--epsilon", type=float, help="L∞ budget in pixel units (default 0.1)")
    vis.add_argument("--target", type=int, help="adversarial target class (default: true class + 1 mod classes)")
    vis.add_argument("--octaves", type=_positive_int, help="dream octaves (default 3)")
    vis.add_argument("--octave_scale", type=float, help="dream size ratio between octaves (default 1.4)")
    vis.add_argument("--style_index", type=int, help="style image: example index in the split (default 1)")
    vis.add_argument("--style_image", help="style image file")
    vis.add_argument("--content_layer", help="style transfer content layer (default VGG-19's stage4_conv2)")
    vis.add_argument("--style_layers", type=_name_list, help="style transfer Gram layers (default VGG-19's)")
    vis.add_argument("--style_weight", type=float, help="weight of the style loss (content weight 1)")
    vis.add_argument("--optimizer", help="style transfer optimiser: lbfgs (default) or adam")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}") from None


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return int(text)


def _split_overrides(argv: list[str], prefix: str = "--config.") -> tuple[list[str], list[str]]:
    """Separates `--config.a.b=value` (or `--config.a.b value`) overrides from the other arguments."""
    rest, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith(prefix):
            key_value = arg[len(prefix) :]
            if "=" not in key_value:
                if i + 1 >= len(argv):
                    raise ConfigError(f"{arg} needs a value: {arg}=VALUE")
                key_value, i = f"{key_value}={argv[i + 1]}", i + 1
            overrides.append(key_value)
        else:
            rest.append(arg)
        i += 1
    return rest, overrides


def _model_overrides(key_values: list[str]) -> dict:
    """`NAME=value` pairs → create_model keywords; a value is a Python literal (`4`, `(1, 1, 1)`) or else a string."""
    overrides = {}
    for key_value in key_values:
        key, value = key_value.split("=", 1)
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def _sweep_executor(args: argparse.Namespace):
    """The executor `cnnjax sweep run`'s options ask for (`cnnjax.sweep.executor.SweepExecutor`)."""
    slurm = {key.removeprefix("slurm_"): value for key, value in vars(args).items() if key.startswith("slurm_")}
    if args.executor == "local":
        given = [f"--slurm_{key}" for key, value in slurm.items() if value not in (None, [])]
        if given:
            raise errors.InvalidInputError(f"{given[0]} is for --executor slurm")
        from cnnjax.sweep.local_executor import LocalExecutor

        return LocalExecutor(1 if args.parallel is None else args.parallel)
    from cnnjax.sweep.slurm_executor import SlurmExecutor
    from cnnjax.sweep.slurm_options import additional_flags, slurm_options

    options = slurm_options(args.config, {**slurm, "additional": additional_flags(slurm["additional"])})
    return SlurmExecutor(args.workdir, options, args.parallel)


def _summary(args: argparse.Namespace, overrides: list[str]) -> str:
    """`cnnjax summary`: checks that one source names the model and which overrides it takes, then runs it."""
    sources = [
        flag for flag, value in (("MODEL", args.model), ("--config", args.config), ("--workdir", args.workdir)) if value
    ]
    if len(sources) != 1:
        given = " and ".join(sources) if sources else "none"
        raise errors.InvalidInputError(
            f"cnnjax summary takes one of MODEL, --config FILE or --workdir DIR; given {given}"
        )
    prefix = "model.overrides."
    model_overrides = {}
    if args.config is None:
        other = [o for o in overrides if not o.startswith(prefix)]
        if other:
            raise errors.InvalidInputError(
                f"--config.{other[0]} needs --config FILE; with {sources[0]} only --config.{prefix}NAME=value applies"
            )
        model_overrides = _model_overrides([o.removeprefix(prefix) for o in overrides])
    from cnnjax.inspect.command import parse_input, summary_command  # jax is imported only once the arguments parse

    return summary_command(
        args.model,
        args.config,
        args.workdir,
        input_shape=parse_input(args.input) if args.input else None,
        batch=args.batch,
        dtype=args.dtype,
        num_classes=args.num_classes,
        config_overrides=tuple(overrides) if args.config else (),
        model_overrides=model_overrides,
        output_format=args.format,
    )


def _visualize(args: argparse.Namespace) -> str:
    """`cnnjax visualize`: the parsed options, handed to the command (which checks them against the kind)."""
    from cnnjax.inspect.visualize_command import VisualizeOptions, visualize_command  # imports jax

    if args.position is not None and len(args.position) != 2:
        raise errors.InvalidInputError(f"--position must be ROW,COL, got {','.join(map(str, args.position))}")
    names = {f.name for f in dataclasses.fields(VisualizeOptions)}
    options = VisualizeOptions(**{k: v for k, v in vars(args).items() if k in names})
    return visualize_command(args.kind, args.workdir, args.out, options)


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
        rest, model_overrides = _split_overrides(rest, "--override.")
        args = _parser().parse_args(rest)
        if model_overrides and args.command != "benchmark":
            raise errors.InvalidInputError(
                "--override.NAME=value is for cnnjax benchmark; train takes --config.model.overrides.NAME"
            )
        takes_overrides = (
            args.command in ("train", "summary") or args.command == "sweep" and args.sweep_command == "run"
        )
        if overrides and not takes_overrides:
            command = f"{args.command} {getattr(args, 'sweep_command', '')}".strip()
            raise errors.InvalidInputError(
                f"--config.NAME=value is for cnnjax train, cnnjax sweep run and cnnjax summary, not cnnjax {command}"
            )
        if args.command == "summary":
            print(_summary(args, overrides))
            return 0
        if args.command == "predict":
            from cnnjax.inspect.predict_command import predict_command  # jax is imported only once the arguments parse

            enable_compilation_cache()
            predict_command(
                args.workdir, args.images, out=args.out, top_k=args.top_k, class_maps=args.class_maps, step=args.step
            )
            return 0
        if args.command == "visualize":
            enable_compilation_cache()
            print(_visualize(args))
            return 0
        if args.command == "sweep":
            from cnnjax.sweep.command import sweep_report, sweep_run

            if args.sweep_command == "report":
                return sweep_report(args.workdir)
            executor = functools.partial(_sweep_executor, args)
            return sweep_run(args.config, args.workdir, args.seeds, overrides, executor, args.vmap_seeds)
        if args.command == "benchmark":
            from cnnjax.cpu_runtime import tune_cpu_runtime

            tune_cpu_runtime()
            enable_compilation_cache()
            from cnnjax.benchmark.command import benchmark_command  # jax is imported only once the arguments parse

            given = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "json")}
            benchmark_command({**given, "overrides": _model_overrides(model_overrides)}, args.json)
            return 0
        if args.command == "train":
            config = load_config(args.config, overrides)
            if config.runtime.tune_cpu:
                from cnnjax.cpu_runtime import tune_cpu_runtime

                for setting in tune_cpu_runtime():
                    print(f"cnnjax: CPU runtime: {setting}")
            from cnnjax.train.loop import run  # jax is imported only once the arguments are good

            enable_compilation_cache()
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
    except errors.CnnjaxError as e:  # anything else is a bug, and keeps its traceback
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

"""Whole wall time of K seeds: one `cnnjax train --config.train.vmap_seeds=K` against K `cnnjax train` runs in
turn, with a shared data stream (`data_seed` fixed) and with distinct ones, side by side in one run.

    python benchmarks/vmap_seeds.py [--seeds 4] [--cases digits_lenet5,shapes_resnet20] [--quick]

Each column is the wall time of the real commands (start-up, data, compile, training, evaluations, checkpoints),
each mode with its own empty compilation cache (so the K runs in turn compile once and load the program three
times, as a new study does). Cases: the default experiment (`experiments/digits_lenet5.py` as shipped) and a CIFAR
ResNet-20 on the generated shapes (`experiments/shapes_classification.py:resnet20`, shortened to SHAPES_STEPS).
`--quick`: 20 steps of each (a smoke run of this script).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "digits_lenet5": ("experiments/digits_lenet5.py", []),
    "shapes_resnet20": (
        "experiments/shapes_classification.py:resnet20",
        ["--config.train.num_steps=200", "--config.train.eval_every_steps=200", "--config.schedule.warmup_steps=30"],
    ),
}
QUICK = ["--config.train.num_steps=20", "--config.train.eval_every_steps=20", "--config.schedule.warmup_steps=5"]


def train(config: str, workdir: Path, cache: Path, overrides: list[str]) -> float:
    """Seconds of one `cnnjax train` command, which must succeed."""
    command = [sys.executable, "-m", "cnnjax.cli", "train", "--config", config, "--workdir", str(workdir), *overrides]
    start = time.perf_counter()
    env = {**os.environ, "CNNJAX_COMPILATION_CACHE_DIR": str(cache)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def measure(case: str, seeds: int, shared_data: bool, quick: bool, root: Path) -> dict:
    config, overrides = CASES[case]
    overrides = overrides + (QUICK if quick else []) + (["--config.data_seed=0"] if shared_data else [])
    data = "shared" if shared_data else "distinct"
    base = root / f"{case}_{data}"
    in_turn = sum(
        train(config, base / "in_turn" / f"seed{s}", base / "cache_in_turn", [*overrides, f"--config.seed={s}"])
        for s in range(seeds)
    )
    vmapped = train(
        config, base / "vmapped", base / "cache_vmapped", [*overrides, f"--config.train.vmap_seeds={seeds}"]
    )
    accuracy = {
        mode: [_final_accuracy(base / mode / f"seed{s}") for s in range(seeds)] for mode in ("in_turn", "vmapped")
    }
    return {"case": case, "data": data, "in_turn_s": in_turn, "vmapped_s": vmapped, "accuracy": accuracy}


def _final_accuracy(run_dir: Path) -> float:
    return json.loads((run_dir / "summary.json").read_text())["test_accuracy"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"{'case':16} {'data':9} {'K in turn':>10} {'vmapped':>9} {'speed-up':>9}  final accuracy (in turn | vmapped)"
    )
    with tempfile.TemporaryDirectory() as root:
        for case in args.cases.split(","):
            for shared_data in (True, False):
                r = measure(case, args.seeds, shared_data, args.quick, Path(root))
                accuracy = " | ".join(" ".join(f"{a:.3f}" for a in r["accuracy"][m]) for m in ("in_turn", "vmapped"))
                print(
                    f"{r['case']:16} {r['data']:9} {r['in_turn_s']:9.1f}s {r['vmapped_s']:8.1f}s "
                    f"{r['in_turn_s'] / r['vmapped_s']:8.2f}×  {accuracy}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

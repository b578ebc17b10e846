"""`cnnjax benchmark` through the command line (in process, a shrunk CIFAR ResNet): every figure present and
consistent, the FLOP count near the hand count, one-line errors before anything compiles."""

import json
import subprocess
import sys

import pytest
from experiment_runs import REPO, experiment
from subprocesses import device_env

import cnnjax.benchmark.run as benchmark_run
from cnnjax.cli import main

BATCH, SIZE, CLASSES = 8, 16, 10
TINY = [
    "--model", "cifar_resnet20", "--override.stage_sizes=(1, 1, 1)", "--override.width=4",
    "--batch", str(BATCH), "--image_size", str(SIZE), "--num_classes", str(CLASSES), "--steps", "2",
]  # fmt: skip
LABELS = ("compile", "step", "throughput", "peak memory", "model FLOPs", "achieved", "MFU", "remat")


def tiny_resnet_macs_per_image() -> int:
    """Multiply-adds of TINY's model counting every tap: (output pixels, k*k*C_in, C_out) per conv, and the head."""
    convs = [(16 * 16, 9 * 3, 4), (16 * 16, 9 * 4, 4), (16 * 16, 9 * 4, 4)]  # stem, stage 1
    convs += [(8 * 8, 9 * 4, 8), (8 * 8, 9 * 8, 8), (4 * 4, 9 * 8, 16), (4 * 4, 9 * 16, 16)]  # stages 2, 3
    return sum(pixels * taps * out for pixels, taps, out in convs) + 16 * CLASSES


def test_benchmark_prints_and_writes_every_figure(tmp_path, capsys):
    path = tmp_path / "result.json"
    assert main(["benchmark", *TINY, "--remat", "--json", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines[1:]] == list(LABELS)
    r = json.loads(path.read_text())
    assert 0 < r["compile_seconds"] < 300
    assert 0 < r["step_seconds_min"] <= r["step_seconds_median"] <= r["step_seconds_max"]
    assert r["images_per_second"] == pytest.approx(BATCH / r["step_seconds_median"])
    assert r["peak_memory_bytes_per_device"] > BATCH * SIZE * SIZE * 3 * 4  # at least the float32 images
    # 3 x forward, 2 FLOPs per multiply-add; XLA skips padded taps (fewer) and adds BatchNorm/ReLU (more).
    all_taps = 3 * 2 * BATCH * tiny_resnet_macs_per_image()
    assert 0.8 * all_taps < r["model_flops_per_step"] < 1.1 * all_taps
    assert r["achieved_flops_per_second"] == pytest.approx(r["model_flops_per_step"] / r["step_seconds_median"])
    assert r["mfu"] is None and lines[-2].startswith("MFU            n/a")  # no peak known for a CPU
    kept = r["backward_residual_bytes"]  # remat: each block keeps only its input for the backward pass
    assert 0 < kept["with"] < kept["without"] and f"{1 - kept['with'] / kept['without']:.0%} saved" in lines[-1]


def test_benchmark_with_a_configs_input_pipeline(tmp_path, capsys):
    args = ["--model", "lenet5", "--batch", "16", "--steps", "3"]
    args += ["--with_data", experiment("digits_lenet5.py")]
    assert main(["benchmark", *args, "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["image_shape"] == [32, 32, 1] and r["num_classes"] == 10  # the config's dataset and image size
    data = r["with_data"]
    assert 0 <= data["data_wait_seconds_median"] <= data["data_wait_seconds_max"] < data["step_seconds_mean"] * 3
    assert data["images_per_second"] == pytest.approx(16 / data["step_seconds_mean"])
    assert "data wait" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "resnet5", "--batch", "8"], "did you mean 'resnet50'"),
        (["--model", "unet", "--batch", "8"], "is a segmentation model"),
        (["--model", "resnet50", "--batch", "8", "--dtype", "bf16"], "--dtype 'bf16' is not one of"),
        (["--model", "resnet50", "--batch", "0"], "--batch must be a positive integer"),
        (["--model", "resnet50", "--batch", "8", "--override.widht=2"], "did you mean 'width'"),
        (["--model", "resnet50", "--batch", "8", "--override.remat=True"], "set remat with --remat"),
        (["--model", "lenet5", "--batch", "8", "--image_size", "28", "--with_data", "experiments/digits_lenet5.py"],
         "--image_size 28 differs"),
    ],
)  # fmt: skip
def test_bad_input_fails_in_one_line_before_compiling(args, message, capsys, monkeypatch):
    def no_compile(*_):
        raise AssertionError("compiled before the input was checked")

    monkeypatch.setattr(benchmark_run, "train_bench", no_compile)
    monkeypatch.chdir(REPO)
    assert main(["benchmark", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_batch_not_divisible_by_the_devices_fails_in_one_line():
    command = [sys.executable, "-m", "cnnjax.cli", "benchmark", "--model", "cifar_resnet20", "--batch", "3"]
    done = subprocess.run(command, env=device_env(2), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (
        "cnnjax: error: --batch 3 is not divisible by the number of devices (2); use a multiple of 2\n"
    )

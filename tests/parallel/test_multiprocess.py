"""Two local processes joined by jax.distributed (2 CPU devices each) match one 4-device process; a run stopped
on one topology resumes on another with the same data order."""

import shutil
import signal
import socket
import time

import jax
import numpy as np
import pytest
from subprocesses import REPO, TINY_RUN, cnnjax_train_command, read_checkpoint_state, run, run_worker, start

from cnnjax.checkpoint import is_committed
from cnnjax.config import load_config
from cnnjax.reporting import read_metrics
from cnnjax.train.experiment import prepare_experiment
from cnnjax.train.optimizer import make_optimizer
from cnnjax.train.state import create_train_state

STEPS = 8
# A learning rate large enough that each leaf's update stands well above one float32 ulp of its
# weights (~3e-8 at |w| ≈ 0.25), so the 1e-5 relative tolerance measures the gradient reduction.
ARGS = (
    *TINY_RUN,
    f"--config.train.num_steps={STEPS}",
    "--config.train.checkpoint_every_steps=0",
    "--config.optimizer.learning_rate=0.03",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_two_processes(workdir, *args: str) -> list:
    """Starts the two processes (2 CPU devices each) of one jax.distributed run of digits_simple_cnn."""
    port = free_port()
    return [
        start(
            cnnjax_train_command(
                "experiments/digits_simple_cnn.py",
                workdir,
                *args,
                "--config.parallel.num_processes=2",
                f"--config.parallel.process_id={i}",
                f"--config.parallel.coordinator_address=127.0.0.1:{port}",
            ),
            num_devices=2,
            stdout=-1,
            stderr=-1,
        )
        for i in range(2)
    ]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """An uninterrupted 2-process run of STEPS steps, checkpointed at STEPS / 2 and STEPS."""
    workdir = tmp_path_factory.mktemp("two_processes")
    processes = start_two_processes(workdir, *ARGS, f"--config.train.checkpoint_every_steps={STEPS // 2}")
    for p, (_, err) in zip(processes, [p.communicate(timeout=600) for p in processes]):
        assert p.returncode == 0, err[-4000:]
    return workdir


def test_two_processes_match_one_four_device_process(tmp_path, two_process_run):
    single = tmp_path / "single"
    done = run(cnnjax_train_command("experiments/digits_simple_cnn.py", single, *ARGS), num_devices=4)
    assert done.returncode == 0, done.stderr[-4000:]
    assert_same_training(two_process_run, single)


def assert_same_training(workdir, reference, rtol=1e-6):
    """The same losses at every step (within `rtol`) and parameter updates within 1e-5 of the reference's."""
    losses = [r["loss"] for r in read_metrics(str(workdir), "train")]
    reference_losses = [r["loss"] for r in read_metrics(str(reference), "train")]
    assert len(losses) == len(reference_losses) == STEPS
    np.testing.assert_allclose(losses, reference_losses, rtol=rtol)
    config = load_config(str(REPO / "experiments/digits_simple_cnn.py"), [a[len("--config.") :] for a in ARGS])
    exp = prepare_experiment(config)
    initial = create_train_state(exp.model, make_optimizer(config)[0], exp.image_shape, config.seed).params
    params = read_checkpoint_state(workdir, STEPS)["params"]
    reference_params = read_checkpoint_state(reference, STEPS)["params"]
    for start_value, a, b in zip(jax.tree.leaves(initial), jax.tree.leaves(params), jax.tree.leaves(reference_params)):
        reference_update = b - start_value
        assert np.max(np.abs((a - start_value) - reference_update)) <= 1e-5 * np.max(np.abs(reference_update))


def stopped_at_half(finished, workdir):
    """A copy of a finished run as a SIGKILL right after its checkpoint at STEPS / 2 leaves it."""
    shutil.copytree(finished, workdir)
    shutil.rmtree(workdir / "checkpoints" / str(STEPS))
    for name in ("summary.json", "summary.txt"):
        (workdir / name).unlink()
    return workdir


RESUME_DEVICES = (2, 1)


@pytest.fixture(scope="module")
def resumed_on_fewer_devices(tmp_path_factory, two_process_run) -> dict:
    """The two-process run stopped at STEPS / 2, resumed in one 4-device process on 2 and on 1 of its devices
    (both relaunches in one process: one start-up); the workdir by device count."""
    workdirs, runs = {}, []
    for num_devices in RESUME_DEVICES:
        workdirs[num_devices] = stopped_at_half(two_process_run, tmp_path_factory.mktemp("resumed") / "run")
        checkpoints = f"--config.train.checkpoint_every_steps={STEPS // 2}"
        args = (*ARGS, checkpoints, f"--config.parallel.num_devices={num_devices}")
        command = cnnjax_train_command("experiments/digits_simple_cnn.py", workdirs[num_devices], *args)
        runs += ["--next", *command[command.index("train") + 1 :]]
    run_worker("train_runs", 4, *runs[1:])
    return workdirs


@pytest.mark.parametrize("num_devices", RESUME_DEVICES)
def test_a_two_process_run_resumes_in_one_process_on_fewer_devices_with_the_same_data(
    resumed_on_fewer_devices, two_process_run, num_devices
):
    assert_same_training(resumed_on_fewer_devices[num_devices], two_process_run, rtol=1e-5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_one_process_stops_both_at_the_same_step(tmp_path, signum):
    command_args = (*TINY_RUN, "--config.train.num_steps=120", "--config.train.checkpoint_every_steps=1000")
    processes = start_two_processes(tmp_path, *command_args)
    deadline = time.time() + 300
    while not read_metrics(str(tmp_path), "train") or read_metrics(str(tmp_path), "train")[-1]["step"] < 50:
        assert all(p.poll() is None for p in processes) and time.time() < deadline
        time.sleep(0.05)
    processes[1].send_signal(signum)  # the preemption notice (or a Ctrl-C) reaches one process only
    outputs = [p.communicate(timeout=300) for p in processes]
    stops = []
    for i, (p, (out, err)) in enumerate(zip(processes, outputs)):
        by = "Ctrl-C" if signum == signal.SIGINT and i == 1 else "SIGTERM"
        assert p.returncode == (130 if by == "Ctrl-C" else 0), err[-3000:]
        stops.append(int(out.split(f"stopped by {by} at step")[1].split(";")[0]))
    assert stops[0] == stops[1] and 50 <= stops[0] < 120
    assert is_committed(str(tmp_path / "checkpoints" / str(stops[0])))
    if signum == signal.SIGTERM:  # resumed, it equals the uninterrupted 2-process run, bitwise
        reference = tmp_path / "uninterrupted"
        runs = [*start_two_processes(tmp_path, *command_args), *start_two_processes(reference, *command_args)]
        for p, (_, err) in zip(runs, [p.communicate(timeout=600) for p in runs]):
            assert p.returncode == 0, err[-4000:]
        strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_sec")} for r in rows]
        assert strip(read_metrics(str(tmp_path), "train")) == strip(read_metrics(str(reference), "train"))
        for a, b in zip(
            jax.tree.leaves(read_checkpoint_state(tmp_path, 120)), jax.tree.leaves(read_checkpoint_state(reference, 120))
        ):
            np.testing.assert_array_equal(a, b)

"""Two local processes joined by jax.distributed (2 CPU devices each) match one 4-device process."""

import signal
import socket
import time

import jax
import numpy as np
import pytest
from subprocesses import REPO, TINY_RUN, cnnjax_train_command, read_checkpoint_state, run, start

from cnnjax.checkpoint import is_committed
from cnnjax.config import load_config
from cnnjax.reporting import read_metrics
from cnnjax.train.loop import prepare_experiment
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


def test_two_processes_match_one_four_device_process(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    processes = start_two_processes(multi, *ARGS)
    done = run(cnnjax_train_command("experiments/digits_simple_cnn.py", single, *ARGS), num_devices=4)
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-4000:]
    assert done.returncode == 0, done.stderr[-4000:]

    losses = [r["loss"] for r in read_metrics(str(multi), "train")]
    reference = [r["loss"] for r in read_metrics(str(single), "train")]
    assert len(losses) == len(reference) == STEPS
    np.testing.assert_allclose(losses, reference, rtol=1e-6)

    config = load_config(str(REPO / "experiments/digits_simple_cnn.py"), [a[len("--config.") :] for a in ARGS])
    exp = prepare_experiment(config)
    initial = create_train_state(exp.model, make_optimizer(config)[0], exp.image_shape, config.seed).params
    params = read_checkpoint_state(multi, STEPS)["params"]
    reference_params = read_checkpoint_state(single, STEPS)["params"]
    for start_value, a, b in zip(jax.tree.leaves(initial), jax.tree.leaves(params), jax.tree.leaves(reference_params)):
        reference_update = b - start_value
        assert np.max(np.abs((a - start_value) - reference_update)) <= 1e-5 * np.max(np.abs(reference_update))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_one_process_stops_both_at_the_same_step(tmp_path, signum):
    command_args = (*TINY_RUN, "--config.train.num_steps=5000", "--config.train.checkpoint_every_steps=1000")
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
    assert stops[0] == stops[1] and 50 <= stops[0] < 5000
    assert is_committed(str(tmp_path / "checkpoints" / str(stops[0])))

"""Multi-process start-up: cluster detection from the environment (SLURM, TPU slices) and what
`initialize_distributed` does with it for each `parallel.auto_initialize` (nothing is initialised:
`jax.distributed.initialize` is replaced by a recorder)."""

import pytest

from cnnjax.config import base_config
from cnnjax.parallel import distributed
from cnnjax.parallel.cluster import Cluster, detect_cluster

SLURM_STEP = {"SLURM_JOB_ID": "77", "SLURM_STEP_NODELIST": "node[01-02]", "SLURM_NTASKS": "8", "SLURM_PROCID": "3"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        (SLURM_STEP, Cluster("slurm", 8, 3)),
        ({**SLURM_STEP, "SLURM_STEP_NUM_TASKS": "2"}, Cluster("slurm", 2, 3)),  # srun -n 2 in an 8-task allocation
        ({**SLURM_STEP, "SLURM_NTASKS": "1"}, None),  # one task
        ({k: v for k, v in SLURM_STEP.items() if k != "SLURM_STEP_NODELIST"}, None),  # the batch script, not srun
        ({"TPU_WORKER_HOSTNAMES": "t0,t1,t2,t3", "TPU_WORKER_ID": "1"}, Cluster("tpu", None, None)),
        ({"TPU_WORKER_HOSTNAMES": "localhost"}, None),  # a single-host TPU VM
        ({"TPU_WORKER_HOSTNAMES": "localhost", "MEGASCALE_NUM_SLICES": "2"}, Cluster("tpu", None, None)),
    ],
)
def test_detect_cluster(environ, expected):
    assert detect_cluster(environ) == expected


def initialize(monkeypatch, cluster, **parallel):
    """The keyword arguments `jax.distributed.initialize` would get, or None when not called."""
    calls = []
    monkeypatch.setattr(distributed, "_initialize", lambda **kwargs: calls.append(kwargs))
    config = base_config().parallel
    for key, value in parallel.items():
        config[key] = value
    distributed.initialize_distributed(config, cluster)
    assert len(calls) <= 1
    return calls[0] if calls else None


SLURM = Cluster("slurm", 8, 3)
EXPLICIT = {"num_processes": 2, "process_id": 1, "coordinator_address": "h:1"}


def test_auto_joins_a_detected_cluster_and_stays_single_without_one(monkeypatch):
    assert initialize(monkeypatch, SLURM) == {"num_processes": 8, "process_id": 3}
    assert initialize(monkeypatch, Cluster("tpu", None, None)) == {"num_processes": None, "process_id": None}
    assert initialize(monkeypatch, None) is None


def test_explicit_fields_win_and_on_always_initialises(monkeypatch):
    assert initialize(monkeypatch, SLURM, **EXPLICIT) == {
        "coordinator_address": "h:1",
        "num_processes": 2,
        "process_id": 1,
    }
    assert initialize(monkeypatch, None, auto_initialize="on") == {}
    assert initialize(monkeypatch, None, auto_initialize="off", **EXPLICIT)["num_processes"] == 2


def test_one_task_of_a_multi_task_job_alone_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="task 3 of 8 of a slurm job but parallel.auto_initialize='off'"):
        initialize(monkeypatch, SLURM, auto_initialize="off")
    assert initialize(monkeypatch, None, auto_initialize="off") is None


@pytest.mark.parametrize(
    ("parallel", "message"),
    [
        ({"auto_initialize": "yes"}, "choose one of auto, on, off"),
        ({"auto_initialize": "on", **EXPLICIT}, "leave parallel.num_processes at 1"),
        ({"num_processes": 2}, "needs parallel.coordinator_address"),
        ({**EXPLICIT, "process_id": 2}, r"outside \[0, 2\)"),
    ],
)
def test_bad_settings_raise_one_line(monkeypatch, parallel, message):
    with pytest.raises(ValueError, match=message):
        initialize(monkeypatch, None, **parallel)

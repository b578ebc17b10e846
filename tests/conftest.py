"""Session fixtures (importing this file changes nothing): every test uses one prepared data directory of its own
(never the user's) and a persistent compilation cache of the session's own (programs compiled by one test or
subprocess load in the next); the suite runs with the process-wide CPU settings `cnnjax train` uses
(cnnjax.cpu_runtime.tune_cpu_runtime)."""

import os

import pytest

from cnnjax.compilation_cache import ENV_VARIABLE, enable_compilation_cache
from cnnjax.cpu_runtime import tune_cpu_runtime


@pytest.fixture(scope="session", autouse=True)
def cpu_runtime() -> None:
    tune_cpu_runtime()  # as `cnnjax train` does


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tensorflow_datasets"))
    os.environ["CNNJAX_DATA_DIR"] = path  # inherited by the subprocesses the tests start
    return path


@pytest.fixture(scope="session", autouse=True)
def compilation_cache_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("jax_compilation_cache"))
    os.environ[ENV_VARIABLE] = path  # inherited by the subprocesses the tests start
    enable_compilation_cache()
    return path

"""Shared fixtures: every test uses one prepared data directory of its own (never the user's)."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tensorflow_datasets"))
    os.environ["CNNJAX_DATA_DIR"] = path  # inherited by the subprocesses the tests start
    return path

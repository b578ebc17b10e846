"""Building the oneDNN conv extension (cnnjax.native.onednn) on a cold cache: processes that start together
compile it once and all load it; where it cannot be built, one line says why and convs take XLA's paths;
tracing for a GPU never builds it."""

import platform
import shutil
import subprocess
import sys

import pytest
from subprocesses import WORKERS, device_env

LINUX_X86 = platform.system() == "Linux" and platform.machine() == "x86_64"
REAL_COMPILER = shutil.which("g++") or shutil.which("c++")
UNAVAILABLE = "cnnjax: warning: oneDNN convolutions unavailable"


def logging_compiler(tmp_path, wait_for: int = 0) -> str:
    """A $CXX that logs each call to compiler.log and, before running the real compiler, waits (up to 60 s)
    until `wait_for` workers have marked themselves ready, so that they all ask for the build at once."""
    script = tmp_path / "cxx"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path}/compiler.log\n'
        "i=0\n"
        f'while [ "$(ls {tmp_path}/ready | wc -l)" -lt {wait_for} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n'
        f'exec {REAL_COMPILER} "$@"\n'
    )
    script.chmod(0o755)
    (tmp_path / "ready").mkdir()
    return str(script)


def compiler_calls(tmp_path) -> int:
    log = tmp_path / "compiler.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def worker_env(tmp_path, cxx: str, cache_dir) -> dict:
    env = device_env(1)
    env.pop("CNNJAX_ONEDNN", None)
    env.update(CXX=cxx, CNNJAX_CACHE_DIR=str(cache_dir), CNNJAX_TEST_READY_DIR=str(tmp_path / "ready"))
    return env


def start_worker(mode: str, env: dict) -> subprocess.Popen:
    command = [sys.executable, str(WORKERS / "onednn_check.py"), mode]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, mode: str) -> str:
    """The worker's stderr, once it has passed."""
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0 and f"{mode} ok" in out, f"{out}\n{err[-6000:]}"
    return err


@pytest.mark.skipif(not (LINUX_X86 and REAL_COMPILER), reason="the oneDNN wheels are for Linux x86-64, with g++")
def test_two_processes_on_a_cold_cache_build_once_and_both_load(tmp_path):
    env = worker_env(tmp_path, logging_compiler(tmp_path, wait_for=2), tmp_path / "cache")
    workers = [start_worker("build", env) for _ in range(2)]
    errors = [finish(worker, "build") for worker in workers]
    assert compiler_calls(tmp_path) == 1
    assert sum("building the oneDNN conv extension" in e for e in errors) == 1, errors
    assert sum("waiting for another process to build" in e for e in errors) == 1, errors
    assert len(list((tmp_path / "cache" / "native").glob("*.so"))) == 1
    # A third process finds the library and loads it without compiling or waiting.
    err = finish(start_worker("build", env), "build")
    assert compiler_calls(tmp_path) == 1 and "oneDNN" not in err, err


def unwritable_dir(tmp_path):
    """A directory this process cannot write: read-only, or (where permissions do not bind, as for
    root) a path beneath a regular file."""
    directory = tmp_path / "read_only"
    directory.mkdir()
    directory.chmod(0o555)
    probe = directory / "probe"
    try:
        probe.touch()
    except OSError:
        return directory
    probe.unlink()
    (tmp_path / "a_file").touch()
    return tmp_path / "a_file" / "cache"


@pytest.mark.skipif(not LINUX_X86, reason="elsewhere the platform check comes first")
@pytest.mark.parametrize("mode", ["no_compiler", "unwritable_cache"])
def test_an_unbuildable_extension_is_reported_once_in_one_line_and_convs_work(tmp_path, mode):
    if mode == "no_compiler":
        env = worker_env(tmp_path, str(tmp_path / "no" / "such" / "c++"), tmp_path / "cache")
        expected = "no C++ compiler"
    else:
        env = worker_env(tmp_path, logging_compiler(tmp_path), unwritable_dir(tmp_path))
        expected = "cannot write the cache dir"
    err = finish(start_worker(mode, env), mode)
    lines = [line for line in err.splitlines() if "oneDNN" in line]
    assert len(lines) == 1 and lines[0].startswith(UNAVAILABLE) and expected in lines[0], err
    assert compiler_calls(tmp_path) == 0


def test_tracing_for_a_gpu_never_builds_the_extension(tmp_path):
    (tmp_path / "cache").mkdir()
    env = worker_env(tmp_path, logging_compiler(tmp_path), tmp_path / "cache")
    err = finish(start_worker("gpu_trace", env), "gpu_trace")
    assert compiler_calls(tmp_path) == 0 and "oneDNN" not in err, err

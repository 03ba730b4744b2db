"""Faults outside the flags end in one `error:` line that says what to do, within a bounded time, and
write nothing: a Ray cluster that takes only clients with its token, a Ray address where nothing
listens. The cluster benchmark makes its own token and passes it to its nodes and its driver. Network
traffic stays on this machine's own addresses."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from envs import load_dataset
from test_bad_input import error_line

REPO = Path(__file__).resolve().parent.parent
TINY = ("--", "--d-model", "16", "--batch-size", "8", "--steps", "10", "--checkpoint-every", "5", "--eval-every",
        "1000", "--eval-episodes", "1", "--num-envs", "1")


def free_port() -> int:
    """A loopback port nothing listens on (the OS just handed it out and took it back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_env(home: Path, **extra) -> dict:
    """This environment with a new home directory and no Ray address or token of its own."""
    home.mkdir(parents=True, exist_ok=True)
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    return {**kept, "HOME": str(home), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0", **extra}


def sweep(address: str, d4rl_file: Path, tmp_path: Path, env: dict, timeout: float = 60):
    """sweep.py on Ray over one tiny cell; (the finished process, its seconds)."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "sweep.py", "--ray-address", address, "--datasets", str(d4rl_file),
                             "--backbones", "mingru", "--seeds", "0", "--out", str(tmp_path / "runs"),
                             "--results", str(tmp_path / "cells"), *TINY],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


def test_a_ray_address_where_nothing_listens_ends_in_one_line_within_a_minute(d4rl_file, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    result, seconds = sweep(address, d4rl_file, tmp_path, fresh_env(tmp_path / "home"))
    assert seconds < 60
    error_line(result, f"--ray-address {address}: no Ray cluster answers there", "Connection refused",
               "ray start --head", "start the cluster")
    assert not (tmp_path / "cells").exists() and not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory):
    """A one-node Ray cluster started, in a fresh home directory, with the cluster benchmark's
    environment (token authentication, its own token in its scratch directory); (address, that environment)."""
    from benchmarks.ray_cluster import cluster_env, start_node, stop_node

    scratch = tmp_path_factory.mktemp("ray-cluster")
    (scratch / "home").mkdir()
    env = {**{k: v for k, v in cluster_env(scratch).items() if k != "RAY_ADDRESS"}, "HOME": str(scratch / "home"),
           "OMP_NUM_THREADS": "1"}
    temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths live under it
    port = free_port()
    head = start_node(["--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
                       "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir], env,
                      scratch / "head.log")
    try:
        assert not (scratch / "home" / ".ray").exists()  # the token came from the scratch directory alone
        yield f"127.0.0.1:{port}", env
    finally:
        stop_node(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_sweep_without_the_clusters_token_says_in_one_line_what_it_needs(token_cluster, d4rl_file, tmp_path):
    address, env = token_cluster
    other_token = tmp_path / "other_token"
    other_token.write_text("0" * 64)
    for extra, sent in [({}, "sent no token;"),
                        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(other_token)}, "a token it does not take"),
                        ({"RAY_AUTH_TOKEN_PATH": env["RAY_AUTH_TOKEN_PATH"]}, "no token (RAY_AUTH_MODE is not token)")]:
        result, seconds = sweep(address, d4rl_file, tmp_path, fresh_env(tmp_path / "home", **extra))
        assert seconds < 60
        error_line(result, f"the Ray cluster at --ray-address {address} refused this process, which sent", sent,
                   "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH=<that file>", "~/.ray/auth_token on its head")
    result, _ = sweep(address, d4rl_file, tmp_path, fresh_env(tmp_path / "home", RAY_AUTH_MODE="token"))
    error_line(result, "RAY_AUTH_MODE=token, but this process has no token", f"--ray-address {address}",
               "RAY_AUTH_TOKEN_PATH=<that file>")
    assert not (tmp_path / "cells").exists() and not (tmp_path / "runs").exists()


def test_the_cluster_benchmarks_token_lets_its_node_and_driver_in(token_cluster, d4rl_file, tmp_path):
    address, env = token_cluster
    result, _ = sweep(address, d4rl_file, tmp_path, env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[1/1] hopper-hopper_random-v2-mingru-window-s0: ok" in result.stdout


def test_the_gpu_checks_dataset_command_writes_a_d4rl_file(d4rl_file, tmp_path, monkeypatch):
    """The header's `python -c` line, with load_dataset's hopper-medium-replay stood in for by a small dataset."""
    header = (REPO / "benchmarks" / "gpu_check.sh").read_text()
    command = re.search(r'python -c "(.+?)"$', header, re.S | re.M).group(1)
    code = re.sub(r"\\\n#\s*", " ", command)
    small = load_dataset(str(d4rl_file), env="hopper")
    monkeypatch.setattr("envs.load_dataset", lambda name: small)
    monkeypatch.chdir(tmp_path)
    exec(code, {})
    (written,) = tmp_path.glob(".whl/*.hdf5")
    columns, ends = load_dataset(str(written), env="hopper").flat()
    expected_columns, expected_ends = small.flat()
    assert np.array_equal(ends, expected_ends)
    for key, values in expected_columns.items():
        assert np.array_equal(columns[key], values)

"""A real two-node Ray cluster on this machine: `ray start --head` on loopback, then a second node joining it
with its own resource label. A tiny study runs on it with `--address` and an MLflow server (a cluster of
several nodes refuses a local tracking store), and its trials must have run on both nodes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.study.conftest import free_port
from tests.study.study_files import expected_keys, run_to_end, write_tiny_study

pytestmark = pytest.mark.slow

# Token authentication is on by default for Ray clusters started with `ray start`; the joining node and the
# driver read the same token (~/.ray/auth_token, generated below when missing).
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}


def _ray(*args: str) -> None:
    ray = shutil.which("ray")
    assert ray, "the `ray` command is installed with ray[default]"
    done = subprocess.run([ray, *args], env=RAY_ENV, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"ray {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def two_node_cluster(tmp_path: Path):
    _ray("get-auth-token", "--generate")  # a fresh machine has no token yet: create ~/.ray/auth_token once
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    _ray(
        "start",
        "--head",
        "--port",
        str(port),
        "--include-dashboard",
        "false",
        "--resources",
        '{"head_node": 1}',
        *common,
    )
    try:
        _ray("start", "--address", address, "--resources", '{"second_node": 1}', *common)
        yield address
    finally:
        subprocess.run([shutil.which("ray") or "ray", "stop", "--force"], env=RAY_ENV, capture_output=True, timeout=120)


def test_a_study_runs_on_both_nodes_of_a_real_cluster(
    tmp_path: Path, two_node_cluster: str, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the driver joins the token-authenticated cluster
    study = write_tiny_study(tmp_path, trials=4, epochs=3)
    out = tmp_path / "out"
    done = run_to_end(
        "run",
        str(study),
        "--out",
        str(out),
        "--address",
        two_node_cluster,
        "--tracking-uri",
        mlflow_server,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(2 node(s), 2 CPU, 0 GPU; 2 trial(s) at a time)" in done.stdout
    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert sorted(table.trial_key) == sorted(expected_keys(4))
    assert (table.status == "ok").all()
    # The node column names host/IP/Ray node id: both nodes share the host and the IP, never the node id.
    node_ids = {node.rsplit("/", 1)[-1] for node in table.node}
    assert len(node_ids) == 2, f"every trial ran on one node: {sorted(set(table.node))}"

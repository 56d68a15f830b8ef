"""A real two-node Ray cluster on this machine: `ray start --head` on loopback, then a second node joining it
with its own resource label. A tiny study runs on it with `--address` and an MLflow server (a cluster of
several nodes refuses a local tracking store), and its trials must have run on both nodes."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.study.conftest import free_port
from tests.study.study_files import expected_keys, run_to_end, sam_study, write_tiny_study

pytestmark = pytest.mark.slow

# Token authentication is on by default for Ray clusters started with `ray start`; the joining node and the
# driver read the same token (~/.ray/auth_token, generated below when missing).
# A lost node is declared dead after 3 missed health checks a second apart (Ray's default waits longer).
RAY_ENV = {
    **os.environ,
    "RAY_AUTH_MODE": "token",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def _ray(*args: str) -> None:
    ray = shutil.which("ray")
    assert ray, "the `ray` command is installed with ray[default]"
    done = subprocess.run([ray, *args], check=False, env=RAY_ENV, capture_output=True, text=True, timeout=180)
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
        subprocess.run(
            [shutil.which("ray") or "ray", "stop", "--force"],
            check=False,
            env=RAY_ENV,
            capture_output=True,
            timeout=120,
        )


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


def _node_processes(label: str) -> list[psutil.Process]:
    """A node's raylet (started with its resource label) and every process it started: its workers and agents."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "raylet" in cmdline.split(" ", 1)[0] and label in cmdline:
            return [process, *process.children(recursive=True)]
    raise AssertionError(f"no raylet with the resource {label}")


def _running_trial(processes: list[psutil.Process], keys: set[str]) -> str | None:
    """The key of a trial running among ``processes``: Ray Tune runs a trial in its trial folder, which is named
    after the key (tune_runner._trial_name)."""
    for process in processes:
        try:
            if any("ray::ImplicitFunc" in part for part in process.cmdline()):
                folder = Path(process.cwd()).name
                return next((k for k in keys if folder.startswith(k.replace("/", "_") + "_")), None)
        except psutil.Error:
            continue
    return None


def test_a_node_lost_mid_study_has_its_trials_rescheduled_on_the_survivor(
    tmp_path: Path, two_node_cluster: str, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    study = write_tiny_study(tmp_path, trials=4, epochs=8)
    text = study.read_text().replace("retries: 0", "retries: 2")
    text = text.replace("  synthetic: {n_samples: 400}\n", "  synthetic: {n_samples: 6000}\n")
    study.write_text(text.replace("model: {name: mlp, hidden: [32]}", "model: {name: mlp, hidden: [512, 512]}"))
    out, log = tmp_path / "out", tmp_path / "run.log"
    with log.open("w") as sink:
        process = sam_study(
            "run", str(study), "--out", str(out), "--address", two_node_cluster, "--tracking-uri", mlflow_server,
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    # Wait until a trial on the second node has written an epoch checkpoint, then kill that whole node.
    deadline = time.monotonic() + 300
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "no trial ran on the second node"
        victim = _running_trial(_node_processes("second_node"), expected_keys(4))
        if victim and any((out / "tiny" / "checkpoints").glob(f"{victim}-*/trial.ckpt")):
            break
        time.sleep(0.2)
    for doomed in _node_processes("second_node"):
        with contextlib.suppress(psutil.Error):
            doomed.kill()
    assert process.wait(timeout=600) == 0, log.read_text()

    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert sorted(table.trial_key) == sorted(expected_keys(4)) and (table.status == "ok").all()
    [killed] = table[table.trial_key == victim].to_dict("records")
    head_id = _node_id(table, killed)
    assert killed["resumed_at_epoch"] >= 1, "the rescheduled trial resumed from the checkpoint of the lost node"
    # Every trial that finished after the loss ran on the surviving node.
    later = table[table.finished_at >= killed["finished_at"]]
    assert {_node_id(table, r) for r in later.to_dict("records")} == {head_id}


def _node_id(table: pd.DataFrame, row: dict) -> str:
    return row["node"].rsplit("/", 1)[-1]

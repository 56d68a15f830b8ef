"""A real two-node Ray cluster on this machine: `ray start --head` on loopback, then a second node joining it
with its own resource label. A tiny study runs on it with `--address` and an MLflow server (a cluster of
several nodes refuses a local tracking store), and its trials must have run on both nodes; a node is lost
mid-study. And the cluster tests leave a user's study, running beside them on the same machine, alone.

The cluster is this module's own: its own Ray temp folder and token, its processes found and killed as the
tree below the `ray start` it ran (tests/study/processes.py), never `ray stop`, never by name."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.study.processes import (
    RayCluster,
    kill_tree,
    ray_cluster,
    tree,
    trial_with_a_checkpoint,
    trial_workers,
)
from tests.study.study_files import (
    check_mlflow,
    check_table,
    check_training_experiment,
    expected_keys,
    run_to_end,
    sam_study,
    write_tiny_study,
)

pytestmark = pytest.mark.slow

# A lost node is declared dead after 3 missed health checks a second apart (Ray's default waits longer).
RAY_ENV = {
    **os.environ,
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
NODES = {"head": {"head_node": 1}, "second": {"second_node": 1}}


class _Clusters:
    """The module's two-node cluster, shared by its tests while both of its nodes live: a test that loses a node
    leaves the next one a fresh cluster."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._cluster: RayCluster | None = None

    def intact(self) -> RayCluster:
        if self._cluster is None or self.lost_a_node():
            self.close()
            self._cluster = self._stack.enter_context(ray_cluster(NODES, env=RAY_ENV))
        return self._cluster

    def lost_a_node(self) -> bool:
        return self._cluster is not None and any(node.process.poll() is not None for node in self._cluster.nodes)

    def close(self) -> None:
        self._cluster = None
        self._stack.close()  # kills every process of the cluster's nodes, and only those


@pytest.fixture(scope="module")
def _clusters() -> Iterator[_Clusters]:
    clusters = _Clusters()
    try:
        yield clusters
    finally:
        clusters.close()


@pytest.fixture
def two_node_cluster(_clusters: _Clusters, monkeypatch: pytest.MonkeyPatch) -> Iterator[RayCluster]:
    """The head (resource head_node) and a second node (second_node), one CPU each. Token authentication is on, with
    the cluster's own token, which the test's driver reads from its environment. Torn down by killing the processes
    of its nodes, and only those (never `ray stop`, which stops every Ray on the machine): at the end of the module,
    or at the end of a test that lost one of its nodes."""
    cluster = _clusters.intact()
    for name, value in cluster.env.items():
        monkeypatch.setenv(name, value)  # the driver joins the token-authenticated cluster
    yield cluster
    if _clusters.lost_a_node():
        _clusters.close()


def test_a_study_runs_on_both_nodes_of_a_real_cluster(
    tmp_path: Path, two_node_cluster: RayCluster, mlflow_server: str
) -> None:
    study = write_tiny_study(tmp_path, trials=2, epochs=3)  # two at a time from the start: one on each node
    out = tmp_path / "out"
    done = run_to_end(
        "run",
        str(study),
        "--out",
        str(out),
        "--address",
        two_node_cluster.address,
        "--tracking-uri",
        mlflow_server,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(2 node(s), 2 CPU, 0 GPU; 2 trial(s) at a time)" in done.stdout
    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert sorted(table.trial_key) == sorted(expected_keys(2))
    assert (table.status == "ok").all()
    # The node column names host/IP/Ray node id: both nodes share the host and the IP, never the node id.
    node_ids = {node.rsplit("/", 1)[-1] for node in table.node}
    assert len(node_ids) == 2, f"every trial ran on one node: {sorted(set(table.node))}"


def test_a_node_lost_mid_study_has_its_trials_rescheduled_on_the_survivor(
    tmp_path: Path, two_node_cluster: RayCluster, mlflow_server: str
) -> None:
    # Two tuning trials (one per node) and the four evaluation runs, each slow enough per epoch (a larger net on
    # more data) that the one on the second node is caught between two epoch checkpoints.
    epochs, keys = 8, expected_keys(2)
    study = write_tiny_study(tmp_path, trials=2, epochs=epochs)
    text = study.read_text().replace("retries: 0", "retries: 2")
    text = text.replace("  synthetic: {n_samples: 400}\n", "  synthetic: {n_samples: 6000}\n")
    study.write_text(text.replace("model: {name: mlp, hidden: [32]}", "model: {name: mlp, hidden: [512, 512]}"))
    out, log = tmp_path / "out", tmp_path / "run.log"
    with log.open("w") as sink:
        process = sam_study(
            "run", str(study), "--out", str(out), "--address", two_node_cluster.address,
            "--tracking-uri", mlflow_server, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    # Wait until a trial on the second node has written an epoch checkpoint, then kill that whole node: every
    # process below its `ray start`, and nothing else.
    second = two_node_cluster.node("second")
    deadline = time.monotonic() + 300
    while (found := trial_with_a_checkpoint(second.process.pid, out / "tiny" / "checkpoints", keys)) is None:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "no trial ran on the second node"
        time.sleep(0.2)
    victim = found[0]
    second.kill()
    assert process.wait(timeout=600) == 0, log.read_text()

    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert sorted(table.trial_key) == sorted(keys) and (table.status == "ok").all()
    [killed] = table[table.trial_key == victim].to_dict("records")
    head_id = _node_id(table, killed)
    assert killed["resumed_at_epoch"] >= 1, "the rescheduled trial resumed from the checkpoint of the lost node"
    assert killed["epochs_run"] == epochs
    # Every trial that finished after the loss ran on the surviving node.
    later = table[table.finished_at >= killed["finished_at"]]
    assert {_node_id(table, r) for r in later.to_dict("records")} == {head_id}


def _node_id(table: pd.DataFrame, row: dict) -> str:
    return row["node"].rsplit("/", 1)[-1]


# ------------------------------------------------------------------------------- beside a user's study


def test_a_users_study_beside_the_cluster_tests_runs_to_its_end(tmp_path: Path, mlflow_server: str) -> None:
    """The suite on a machine where a user's study runs: a `sam-study run` with its embedded Ray, logging to an
    MLflow server, started outside the cluster tests' processes (a session of its own, its own --out), while a
    two-node cluster is set up and torn down as the two_node_cluster fixture does it and the kill tests' victim
    search runs. Its Ray processes have the same names as the cluster's (raylet, gcs_server, ray::ImplicitFunc...);
    it must run to its end untouched, with every trial in its table and in MLflow.

    Its run is also the suite's check of a study logging to a real `mlflow server`."""
    trials, epochs = 4, 8
    user = tmp_path / "user"
    user.mkdir()
    study = write_tiny_study(user, trials=trials, epochs=epochs)
    # Named apart from the other studies on the session's server. One trial at a time (a CPU left to the cluster),
    # each of seconds (a larger net on more data): it outlives the cluster's start by far.
    text = study.read_text().replace("name: tiny\n", "name: users\n")
    text = text.replace("resources: {cpu: 1}", "max_concurrent: 1")
    text = text.replace("  synthetic: {n_samples: 400}\n", "  synthetic: {n_samples: 6000}\n")
    study.write_text(text.replace("model: {name: mlp, hidden: [32]}", "model: {name: mlp, hidden: [512, 512]}"))
    out, log = user / "out", user / "run.log"
    with log.open("w") as sink:
        theirs = sam_study(
            "run", str(study), "--out", str(out), "--tracking-uri", mlflow_server,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        with ray_cluster(NODES, env=RAY_ENV) as cluster:  # the fixture's setup, while the user's study runs
            deadline = time.monotonic() + 300
            while not trial_workers(theirs.pid):  # it is at its trials, in workers named as the cluster's are
                assert theirs.poll() is None, f"the user's study ended before the cluster was up:\n{log.read_text()}"
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            ours = {p.pid for node in cluster.nodes for p in node.processes()}
            assert not ours & {p.pid for p in tree(theirs.pid)}
            # The kill tests' victim search, from the suite's own processes, finds nothing of the user's study,
            # though it looks for the very trial keys in the very checkpoint folder.
            checkpoints = out / "users" / "checkpoints"
            for node in cluster.nodes:
                assert trial_with_a_checkpoint(node.process.pid, checkpoints, expected_keys(trials)) is None
            assert theirs.poll() is None, log.read_text()
        # Here the fixture's teardown ran, with the user's study at work.
        assert theirs.wait(timeout=600) == 0, log.read_text()
    finally:
        if theirs.poll() is None:  # the test failed: stop the study it started, and only it
            kill_tree(theirs)
    assert not (out / "mlflow.db").exists(), "nothing may go to the embedded store"
    table = pd.read_parquet(out / "users" / "trials.parquet")
    check_table(table, trials=trials, epochs=epochs, study="users")
    check_mlflow(mlflow_server, table, epochs=epochs, experiment="users")
    check_training_experiment(mlflow_server, log.read_text(), local=False, experiment="users")

"""End to end against the production tracking setup: `sam-study run` of a tiny study on a real local Ray,
logging over HTTP to an `mlflow server` whose backend store is PostgreSQL; the runs are read back over HTTP
and counted in PostgreSQL itself."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.study.study_files import check_mlflow, expected_keys, run_to_end, write_tiny_study

pytestmark = pytest.mark.slow

TRIALS, EPOCHS = 2, 2


def test_a_study_logs_over_http_to_an_mlflow_server_on_postgresql(
    tmp_path: Path, postgres_database: str, postgres_mlflow_server: str
) -> None:
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    done = run_to_end("run", str(study), "--out", str(out), "--tracking-uri", postgres_mlflow_server)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (out / "mlflow.db").exists(), "nothing may go to the embedded store"
    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert sorted(table.trial_key) == sorted(expected_keys(TRIALS))
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]

    # Read back over HTTP: one parent run, one finished child per trial, with params, metrics and artifacts.
    check_mlflow(postgres_mlflow_server, table, epochs=EPOCHS)
    client = mlflow.MlflowClient(postgres_mlflow_server)
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("role") == "study"]
    children = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert sorted(r.data.tags["trial_key"] for r in children) == sorted(table.trial_key)
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params and "test_accuracy" in child.data.metrics

    # The runs are rows of PostgreSQL's `mlflow` database, and their artifacts went through the server.
    import psycopg2  # here, not at the top: without it the fixture skips (or fails under CI) with a hint

    with psycopg2.connect(postgres_database) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.run_uuid FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id WHERE e.name = %s",
            ("tiny",),
        )
        in_tiny = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT count(*) FROM runs")
        (all_runs,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM metrics WHERE run_uuid = %s", (children[0].info.run_id,))
        (child_metrics,) = cursor.fetchone()
    connection.close()
    assert in_tiny == {parent.info.run_id} | set(table.mlflow_run_id)
    assert all_runs == 1 + len(table)
    assert child_metrics > 0
    stored = list((tmp_path / "server-artifacts").rglob("result.json"))
    assert len(stored) == len(table), "each trial's result.json is stored by the server"

"""The MLflow server dies in the middle of a study (SIGKILL): the study finishes on its own with every trial in the
trials table, exits 3 and says how to repair MLflow; a new server on the same store, filled by `sam-study
sync-mlflow`, then holds exactly one complete child run per trial, and a second sync changes nothing."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Run, ViewType

from pipeline.cli import main
from pipeline.results.table import TrialsTable
from pipeline.spec.study import load_study
from pipeline.study.mlflow.sync import SYNCED_TAG
from tests.rows import make_row
from tests.study.conftest import free_port, mlflow_server_process
from tests.study.study_files import expected_keys, rows_recorded, sam_study, write_tiny_study

pytestmark = pytest.mark.slow

TRIALS, EPOCHS = 4, 3  # eight trials: six of them run after the server is gone


def wait_for_rows(process: subprocess.Popen[str], table: Path, rows: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the study ended (rc={process.returncode}) before {rows} trials were recorded")
        if rows_recorded(table) >= rows:
            return
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no {rows} rows in {table} within {timeout} s")


def synced(output: str) -> dict[str, int]:
    found = re.search(r"created (\d+), completed (\d+), already there (\d+)", output)
    assert found, output
    return dict(zip(("created", "completed", "there"), map(int, found.groups()), strict=True))


def test_a_study_outlives_its_mlflow_server_and_sync_mlflow_back_fills_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    study_dir = out / "tiny"
    store = f"sqlite:///{tmp_path / 'server.db'}"
    stdout_path, stderr_path = tmp_path / "run.out", tmp_path / "run.err"

    with (
        mlflow_server_process(store, tmp_path) as server,
        stdout_path.open("w") as stdout,
        stderr_path.open("w") as stderr,
    ):
        run = sam_study(
            "run", str(study), "--out", str(out), "--tracking-uri", server.uri, stdout=stdout, stderr=stderr
        )
        try:
            wait_for_rows(run, study_dir / "trials.parquet", rows=2)
            server.kill()  # SIGKILL, as a crash would: no goodbye
            rc = run.wait(timeout=900)
        finally:
            if run.poll() is None:
                run.kill()
    log = stdout_path.read_text() + stderr_path.read_text()

    # The study finished by itself, every trial once in the table, and said what MLflow missed and how to fix it.
    assert rc == 3, log
    table = pd.read_parquet(study_dir / "trials.parquet")
    assert set(table.trial_key) == expected_keys(TRIALS), log
    assert table.trial_key.is_unique
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
    assert (study_dir / "report.md").exists() and (study_dir / "selection.json").exists()
    warnings = [line for line in stdout_path.read_text().splitlines() if "is unreachable" in line]
    assert len(warnings) == 1, log  # warned once, not once per call
    assert server.uri in warnings[0] and "sam-study sync-mlflow" in warnings[0]
    assert f"sam-study sync-mlflow {study_dir}" in stderr_path.read_text()

    # A new server on the same store, at another port: mlflow.json still names the dead one.
    assert json.loads((study_dir / "mlflow.json").read_text())["tracking_uri"] == server.uri
    with mlflow_server_process(store, tmp_path) as restarted:
        # Whether the kill caught a trial half-logged is down to timing; make sure both leftovers of an outage
        # are there: a child cut off after two epochs (left RUNNING) and a second child of a recorded trial.
        # Which trials ran before, across and after the kill depends on the order one streaming Tune run handed
        # them out, so both are chosen from what the table and the store hold, not by name.
        late = ran_wholly_after_the_kill(restarted.uri, table)
        cut_off = cut_off_child(restarted.uri, table, late)
        duplicate = duplicate_child(restarted.uri, table, recorded_before_the_kill(table))
        capsys.readouterr()
        assert main(["sync-mlflow", str(study_dir), "--tracking-uri", restarted.uri]) == 0, capsys.readouterr()
        first = capsys.readouterr().out
        counts = synced(first)
        assert sum(counts.values()) == len(table)
        assert counts["created"] >= 1, "the outage cost MLflow nothing: it was not injected"
        assert counts["completed"] >= 1 and "deleted 1 duplicate child run(s)" in first, first
        runs_after_first = check_synced(restarted.uri, table)
        client = mlflow.MlflowClient(restarted.uri)
        assert client.get_run(cut_off).data.tags["trial_key"] == late  # completed in place: same run
        assert client.get_run(cut_off).info.status == "FINISHED"
        assert client.get_run(duplicate).info.lifecycle_stage == "deleted"

        assert main(["sync-mlflow", str(study_dir), "--tracking-uri", restarted.uri]) == 0, capsys.readouterr()
        second = capsys.readouterr().out
        assert synced(second) == {"created": 0, "completed": 0, "there": len(table)}, second
        assert "parent: up to date" in second and "parent run ended" not in second
        assert check_synced(restarted.uri, table) == runs_after_first, "the second sync changed the runs"


def _children(client: mlflow.MlflowClient, key: str) -> list[Run]:
    experiment = client.get_experiment_by_name("tiny")
    return client.search_runs([experiment.experiment_id], f"tags.role = 'trial' and tags.trial_key = '{key}'")


def _unrecorded(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.mlflow_run_id.isna() | (table.mlflow_run_id == "")]


def ran_wholly_after_the_kill(uri: str, table: pd.DataFrame) -> str:
    """The last recorded trial with no child run at all: it started after the server was gone. (A trial that was
    running at the kill has no run id in its row either, but it may have left a RUNNING child behind.)"""
    client = mlflow.MlflowClient(uri)
    untouched = [key for key in _unrecorded(table).trial_key if not _children(client, key)]
    assert untouched, "every trial reached MLflow: the outage was not injected"
    return untouched[-1]


def recorded_before_the_kill(table: pd.DataFrame) -> str:
    """The first trial whose row holds its child run's id: MLflow recorded it completely."""
    recorded = table.drop(_unrecorded(table).index)
    assert len(recorded), "no trial reached MLflow before the kill"
    return recorded.trial_key.iloc[0]


def cut_off_child(uri: str, table: pd.DataFrame, key: str) -> str:
    """The child run a trial leaves when the server dies after its second epoch: RUNNING, params and two epochs."""
    client = mlflow.MlflowClient(uri)
    assert not _children(client, key), f"{key} ran after the kill, yet MLflow has its run"
    parent = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.role = 'study'")[0]
    row = table.set_index("trial_key").loc[key]
    tags = {"mlflow.parentRunId": parent.info.run_id, "role": "trial", "trial_key": key, "phase": row.phase}
    run = client.create_run(parent.info.experiment_id, tags=tags, run_name=key)
    client.log_param(run.info.run_id, "optimizer", row.optimizer)
    for epoch in json.loads(row.history_json)[:2]:
        client.log_metric(run.info.run_id, "epoch/val_accuracy", epoch["val_accuracy"], step=epoch["epoch"])
    return run.info.run_id


def duplicate_child(uri: str, table: pd.DataFrame, key: str) -> str:
    """A second child run of a trial whose own run is complete (a retried trial that could not find its first)."""
    client = mlflow.MlflowClient(uri)
    [original] = _children(client, key)
    assert original.info.run_id == table.set_index("trial_key").loc[key].mlflow_run_id
    tags = {k: v for k, v in original.data.tags.items() if not k.startswith("mlflow.") or k == "mlflow.parentRunId"}
    return client.create_run(original.info.experiment_id, tags=tags, run_name=key).info.run_id


def check_synced(uri: str, table: pd.DataFrame) -> set[str]:
    """One finished parent with the study's files; exactly one finished child per trial key, holding its tags,
    params, the per-epoch history of its row, its final metrics and result.json. Returns every run id, deleted
    ones too."""
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny")
    parents = client.search_runs([experiment.experiment_id], "tags.role = 'study'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'", max_results=1000
    )
    assert sorted(c.data.tags["trial_key"] for c in children) == sorted(table.trial_key), "one child per trial"
    by_key = {c.data.tags["trial_key"]: c for c in children}
    backfilled = 0
    for row in table.itertuples():
        child = by_key[row.trial_key]
        assert child.info.status == "FINISHED" and child.data.tags["status"] == "ok"
        assert child.info.run_name == row.trial_key
        tags = child.data.tags
        assert (tags["phase"], tags["method"], tags["seed"], tags["role"]) == (
            row.phase,
            row.method,
            str(row.seed),
            "trial",
        )
        assert child.data.params["optimizer"] == row.optimizer and child.data.params["phase"] == row.phase
        assert float(child.data.params["lr"]) == pytest.approx(row.lr)
        assert child.data.metrics["test_accuracy"] == pytest.approx(row.test_accuracy)
        assert child.data.metrics["val_accuracy"] == pytest.approx(row.val_accuracy)  # the selected model's
        history = client.get_metric_history(child.info.run_id, "epoch/val_accuracy")
        expected = [epoch["val_accuracy"] for epoch in json.loads(row.history_json)]
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(EPOCHS)), row.trial_key
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(expected)
        assert "result.json" in {a.path for a in client.list_artifacts(child.info.run_id)}
        backfilled += tags.get(SYNCED_TAG) == "true"
    assert backfilled >= 1
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"study", "selection.json", "trials.parquet", "report"} <= parent_files
    assert "report/report.md" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    every_run = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000)
    return {r.info.run_id for r in every_run}


def small_study_folder(tmp_path: Path, tracking_uri: str | None) -> Path:
    """A study folder with its spec, a one-row trials table and (when given) the MLflow location it recorded."""
    spec = load_study(write_tiny_study(tmp_path))
    folder = tmp_path / "out" / "tiny"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps(spec.model_dump(mode="json")))
    TrialsTable(folder / "trials.parquet").append(make_row(study="tiny", method="sgd", seed=0, status="ok"))
    if tracking_uri is not None:
        record = {"tracking_uri": tracking_uri, "experiment_id": "1", "parent_run_id": "0" * 32}
        (folder / "mlflow.json").write_text(json.dumps(record))
    return folder


def test_sync_mlflow_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync-mlflow", str(tmp_path / "nowhere")]) == 2
    assert f"{tmp_path / 'nowhere'}: no such study folder" in capsys.readouterr().err


def test_sync_mlflow_needs_a_tracking_uri_when_the_folder_recorded_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = small_study_folder(tmp_path, tracking_uri=None)
    assert main(["sync-mlflow", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "mlflow.json" in err and "--tracking-uri" in err


def test_sync_mlflow_says_which_server_it_cannot_reach(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    folder = small_study_folder(tmp_path, tracking_uri=dead)
    assert main(["sync-mlflow", str(folder)]) == 2  # the URI recorded in mlflow.json
    err = capsys.readouterr().err
    assert f"the MLflow server at {dead} cannot be reached" in err, err
    other = f"http://127.0.0.1:{free_port()}"
    assert main(["sync-mlflow", str(folder), "--tracking-uri", other]) == 2  # the one given wins
    err = capsys.readouterr().err
    assert f"the MLflow server at {other} cannot be reached" in err, err

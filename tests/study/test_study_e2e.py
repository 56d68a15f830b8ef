"""End to end on a real local Ray: `sam-study run` of a tiny study, interrupted and resumed, into the
trials table and MLflow (an embedded SQLite store, then a real `mlflow server`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.study.conftest import free_port
from tests.study.study_files import (
    check_mlflow,
    expected_keys,
    interrupt_after_rows,
    run_to_end,
    sam_study,
    write_tiny_study,
)

pytestmark = pytest.mark.slow

TRIALS, EPOCHS = 4, 3
REQUIRED_COLUMNS = (
    "study",
    "phase",
    "method",
    "seed",
    "status",
    "rho",
    "test_accuracy",
    "val_accuracy",
    "wall_time_s",
    "node",
    "device",
    "git_commit",
    "version.torch",
    "version.ray",
    "hp.rho",
    "lr",
    "test_loss",
    "final_test_accuracy",
    "passes_per_step",
    "history_json",
)


def check_table(table: pd.DataFrame) -> None:
    assert set(table.trial_key) == expected_keys(TRIALS)
    assert table.trial_key.is_unique, table.trial_key.value_counts()
    assert set(REQUIRED_COLUMNS) <= set(table.columns)
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
    assert (table.study == "tiny").all()
    tune, evaluation = table[table.phase == "tune"], table[table.phase == "eval"]
    assert len(tune) == TRIALS and (tune.method == "sam").all()
    assert tune.rho.between(0.01, 0.5).all() and tune.rho.nunique() == TRIALS  # every trial its own ρ
    assert sorted(zip(evaluation.method, evaluation.seed, strict=True)) == [
        ("sam", 0),
        ("sam", 1),
        ("sgd", 0),
        ("sgd", 1),
    ]
    for column in ("val_accuracy", "test_accuracy"):
        assert table[column].between(0, 1).all()
    assert (table.epochs_run == EPOCHS).all()
    assert all(len(json.loads(h)) == EPOCHS for h in table.history_json)
    assert evaluation[evaluation.method == "sgd"].rho.isna().all()


def check_selection(study_dir: Path, table: pd.DataFrame) -> None:
    """The evaluated ρ is the tuning trial with the best validation accuracy, and eval runs used it."""
    selection = json.loads((study_dir / "selection.json").read_text())["sam"]
    tune = table[table.phase == "tune"]
    best = tune.sort_values(["val_accuracy", "val_loss"], ascending=[False, True]).iloc[0]
    assert selection["trial_key"] == best.trial_key
    assert selection["params"]["rho"] == pytest.approx(best.rho)
    evaluation = table[(table.phase == "eval") & (table.method == "sam")]
    assert evaluation.rho.to_list() == pytest.approx([best.rho] * 2)


def test_study_runs_resumes_after_an_interrupt_and_records_every_trial_once(
    tmp_path: Path,
) -> None:
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    table_path = out / "tiny" / "trials.parquet"
    log = (tmp_path / "first.log").open("w")
    first = sam_study("run", str(study), "--out", str(out), stdout=log, stderr=subprocess.STDOUT)
    interrupt_after_rows(first, table_path, rows=2)
    assert first.wait(timeout=120) == 130, (tmp_path / "first.log").read_text()
    done_before = set(pd.read_parquet(table_path).trial_key)
    assert 2 <= len(done_before) < len(expected_keys(TRIALS))

    second = run_to_end("run", str(study), "--out", str(out))
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming: {len(done_before)} trial(s) done" in second.stdout
    table = pd.read_parquet(table_path)
    check_table(table)
    # Trials finished before the interrupt were not run again: their rows are untouched.
    first_rows = table[table.trial_key.isin(done_before)]
    assert (first_rows.finished_at <= table[~table.trial_key.isin(done_before)].finished_at.min()).all()
    check_selection(out / "tiny", table)
    check_mlflow(f"sqlite:///{out / 'mlflow.db'}", table, epochs=EPOCHS)
    assert "| sam (reference) |" in second.stdout  # the summary table
    check_training_experiment(f"sqlite:///{out / 'mlflow.db'}", second.stdout, local=True)
    # The report, written at the end of the run, and again by `sam-study report` onto the same parent run.
    assert "Against the reference, sam" in (out / "tiny" / "report.md").read_text()
    assert "against the reference sam" in second.stdout
    again = run_to_end("report", str(out / "tiny"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "attached to MLflow run" in again.stdout

    # A third run finds everything done and runs nothing.
    third = run_to_end("run", str(study), "--out", str(out))
    assert third.returncode == 0, third.stderr
    assert "tuning: 0 trial(s) to run" in third.stdout and "evaluation: 0 trial(s) to run" in third.stdout
    assert pd.read_parquet(table_path).trial_key.is_unique and len(pd.read_parquet(table_path)) == len(table)


def test_study_logs_to_a_real_mlflow_server(tmp_path: Path, mlflow_server: str) -> None:
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    done = run_to_end("run", str(study), "--out", str(out), "--tracking-uri", mlflow_server)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (out / "mlflow.db").exists(), "nothing may go to the embedded store"
    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    check_table(table)
    check_mlflow(mlflow_server, table, epochs=EPOCHS)
    check_training_experiment(mlflow_server, done.stdout, local=False)


def check_training_experiment(uri: str, stdout: str, *, local: bool) -> None:
    """The study's experiment is tagged as model training (not GenAI), and the run printed the UI link that opens
    its parent run in the training view (for a local store, with the command that serves the UI)."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    [parent] = client.search_runs([experiment.experiment_id], filter_string="tags.role = 'study'")
    base = "http://127.0.0.1:5000" if local else uri.rstrip("/")
    link = f"{base}/#/experiments/{experiment.experiment_id}/runs/{parent.info.run_id}?workflowType=machine_learning"
    assert link in stdout, stdout[-2000:]
    if local:
        assert f"mlflow ui --backend-store-uri {uri} --port 5000" in stdout


def test_an_unreachable_tracking_server_fails_before_anything_runs(
    tmp_path: Path,
) -> None:
    study = write_tiny_study(tmp_path)
    done = run_to_end(
        "run",
        str(study),
        "--out",
        str(tmp_path / "out"),
        "--tracking-uri",
        f"http://127.0.0.1:{free_port()}",
    )
    assert done.returncode == 2
    assert "cannot be reached" in done.stderr and "--tracking-uri" in done.stderr
    assert not (tmp_path / "out").exists()


def test_asha_stops_weak_tuning_trials_and_each_is_recorded_as_stopped(
    tmp_path: Path,
) -> None:
    epochs, trials = 6, 8
    study = write_tiny_study(tmp_path, trials=trials, epochs=epochs)
    # A range up to ρ = 20, where SAM barely learns: some trials are clearly weak at the first rung (on this tiny
    # validation split, close trials tie, and ASHA stops none of a tie).
    text = study.read_text().replace(
        "{rho: {low: 0.01, high: 0.5, log: true}}", "{rho: {low: 0.01, high: 20.0, log: true}}"
    )
    study.write_text(
        text.replace(
            f"tuning: {{trials: {trials}, startup_trials: 2}}",
            f"tuning: {{trials: {trials}, startup_trials: 2, scheduler: asha, grace_period: 1, reduction_factor: 2}}",
        )
    )
    out = tmp_path / "out"
    done = run_to_end("run", str(study), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert table.trial_key.is_unique and len(table) == trials + 4
    tune = table[table.phase == "tune"]
    stopped = tune[tune.stopped_by_scheduler]
    assert 1 <= len(stopped) < trials, "ASHA stopped no trial (or all of them)"
    assert (stopped.epochs_run < epochs).all() and stopped.val_accuracy.between(0, 1).all()
    assert stopped.wall_time_s.gt(0).all()
    assert (tune[~tune.stopped_by_scheduler].epochs_run == epochs).all()
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["tiny"]).set_index("tags.trial_key")
    for key in stopped.trial_key:
        assert runs.loc[key, "status"] == "KILLED" and runs.loc[key, "tags.status"] == "stopped"


def test_a_data_parallel_study_runs_each_trial_on_two_ray_train_workers(tmp_path: Path) -> None:
    """workers_per_trial: 2 through `sam-study run`: every trial is a 2-worker TorchTrainer (gloo on CPU)."""
    study = write_tiny_study(tmp_path, trials=1, epochs=2, extra="workers_per_trial: 2\n")
    text = study.read_text().replace("training: {lr: 0.05,", "training: {perturbation: local, lr: 0.05,")
    study.write_text(text)
    out = tmp_path / "out"
    done = run_to_end("run", str(study), "--out", str(out), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 trial(s) at a time" in done.stdout  # 2 CPUs hold one 2-worker trial
    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert sorted(table.trial_key) == sorted(expected_keys(1))
    assert (table.status == "ok").all() and (table.epochs_run == 2).all()
    assert table.node.str.contains("(2 workers; rank 0 here)", regex=False).all()
    assert all(json.loads(c)["perturbation"] == "local" for c in table.config_json)
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["tiny"])
    children = runs[runs["tags.role"] == "trial"]
    assert sorted(children["tags.trial_key"]) == sorted(table.trial_key), "one child run per trial (rank 0 logs)"
    assert (children["tags.workers"] == "2").all() and (children.status == "FINISHED").all()
    assert "2 workers per trial, local perturbation" in (out / "tiny" / "report.md").read_text()

"""End to end on a real local Ray: `sam-study run` of a tiny study, interrupted and resumed, into the
trials table and MLflow (an embedded SQLite store; a real `mlflow server` in test_cluster_e2e)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from pipeline.cli import main
from tests.study.conftest import free_port
from tests.study.study_files import (
    TINY_TEST_EXAMPLES,
    check_mlflow,
    check_outcomes,
    check_table,
    check_training_experiment,
    expected_keys,
    interrupt_after_rows,
    read_table,
    run_to_end,
    sam_study,
    write_tiny_study,
)

pytestmark = pytest.mark.slow

# Epochs enough for a trial to take about a second: the Ctrl-C lands while trials remain (a study is one Tune run,
# and the last trials of a faster one finish within the moment a signal takes).
TRIALS, EPOCHS = 4, 100


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
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    table_path = out / "tiny" / "trials.parquet"
    log = (tmp_path / "first.log").open("w")
    first = sam_study("run", str(study), "--out", str(out), stdout=log, stderr=subprocess.STDOUT)
    interrupt_after_rows(first, table_path, rows=2)
    assert first.wait(timeout=120) == 130, (tmp_path / "first.log").read_text()
    done_before = set(read_table(table_path).trial_key)
    assert 2 <= len(done_before) < len(expected_keys(TRIALS))

    second = run_to_end("run", str(study), "--out", str(out))
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming: {len(done_before)} trial(s) done" in second.stdout
    table = pd.read_parquet(table_path)
    check_table(table, trials=TRIALS, epochs=EPOCHS)
    # Trials finished before the interrupt were not run again: their rows are untouched.
    first_rows = table[table.trial_key.isin(done_before)]
    assert (first_rows.finished_at <= table[~table.trial_key.isin(done_before)].finished_at.min()).all()
    check_selection(out / "tiny", table)
    check_mlflow(f"sqlite:///{out / 'mlflow.db'}", table, epochs=EPOCHS)
    check_outcomes(out / "tiny", table, examples=TINY_TEST_EXAMPLES)
    assert "| sam (reference) |" in second.stdout  # the summary table
    check_training_experiment(f"sqlite:///{out / 'mlflow.db'}", second.stdout, local=True)
    # The report, written at the end of the run, and again by `sam-study report` onto the same parent run.
    assert "Against the reference, sam" in (out / "tiny" / "report.md").read_text()
    assert "against the reference sam" in second.stdout
    assert main(["report", str(out / "tiny")]) == 0
    assert "attached to MLflow run" in capsys.readouterr().out

    # A third run finds everything done and runs nothing.
    third = run_to_end("run", str(study), "--out", str(out))
    assert third.returncode == 0, third.stderr
    assert "\n0 trial(s) to run\n" in third.stdout, third.stdout
    assert pd.read_parquet(table_path).trial_key.is_unique and len(pd.read_parquet(table_path)) == len(table)


# A study logging to a real `mlflow server` (every trial once in the table, and one finished child run per trial
# with its params, metrics, history and result.json): test_cluster_e2e's user's study, which runs beside the
# cluster tests, checks it on its run.


def test_an_unreachable_tracking_server_fails_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_tiny_study(tmp_path)
    uri = f"http://127.0.0.1:{free_port()}"
    assert main(["run", str(study), "--out", str(tmp_path / "out"), "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "--tracking-uri" in err
    assert not (tmp_path / "out").exists()


def test_a_data_parallel_study_runs_each_trial_on_two_ray_train_workers(tmp_path: Path) -> None:
    """workers_per_trial: 2 through `sam-study run`: every trial is a 2-worker TorchTrainer (gloo on CPU). One
    method is enough to run both phases (a tuning trial, then two evaluation runs): each trial costs two workers."""
    study = write_tiny_study(tmp_path, trials=1, epochs=2, extra="workers_per_trial: 2\n")
    text = study.read_text().replace("training: {lr: 0.05,", "training: {perturbation: local, lr: 0.05,")
    assert "  - name: sgd\n" in text
    study.write_text(text.replace("  - name: sgd\n", ""))
    keys = {"tune/sam/search0/trial0", "eval/sam/seed0", "eval/sam/seed1"}
    out = tmp_path / "out"
    done = run_to_end("run", str(study), "--out", str(out), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 trial(s) at a time" in done.stdout  # 2 CPUs hold one 2-worker trial
    table = pd.read_parquet(out / "tiny" / "trials.parquet")
    assert sorted(table.trial_key) == sorted(keys)
    assert (table.status == "ok").all() and (table.epochs_run == 2).all()
    assert table.node.str.contains("(2 workers; rank 0 here)", regex=False).all()
    assert all(json.loads(c)["perturbation"] == "local" for c in table.config_json)
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["tiny"])
    children = runs[runs["tags.role"] == "trial"]
    assert sorted(children["tags.trial_key"]) == sorted(table.trial_key), "one child run per trial (rank 0 logs)"
    assert (children["tags.workers"] == "2").all() and (children.status == "FINISHED").all()
    assert "2 workers per trial, local perturbation" in (out / "tiny" / "report.md").read_text()

"""A tiny study for the end-to-end tests: two methods, two seeds, seconds per trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipeline.results.outcomes import outcome_path, read_outcomes
from pipeline.results.table import read_frame, table_exists

TINY_STUDY = """\
name: tiny
data:
  name: synthetic
  synthetic: {{n_samples: 400}}
model: {{name: mlp, hidden: [32]}}
training: {{lr: 0.05, epochs: {epochs}, batch_size: 32}}
methods:
  - name: sgd
  - name: sam
    search: {{rho: {{low: 0.01, high: 0.5, log: true}}}}
reference: sam
tuning: {{trials: {trials}, startup_trials: 2}}
evaluation: {{seeds: [0, 1]}}
resources: {{cpu: 1}}
retries: 0
"""


# One study run for two tests (a run costs far more than its trials): the evaluation of two methods that diverge,
# beside SGD and SAM (test_faults), and the tuning of SAM's ρ by ASHA (test_study_e2e).
#
# MP-SAM and XSAM at ρ = 1e14 with lr 3: the loss grows about 1000-fold per epoch from ~1e28 and overflows
# float32 in epoch 2 or 3, so each run has finite epochs before it diverges. Smaller settings tried on this
# data: ρ up to 1e18 at lr ≤ 0.5 never diverges (the SAM step is normalised); ρ = 1e10 at lr 3 diverges only
# in epochs 4-6; ρ ≥ 1e18 at lr 3 diverges in the first epoch, with nothing finite to keep.
# SAM is tuned over a range up to ρ = 20, where it barely learns: some trials are clearly weak at ASHA's first
# rung (on this tiny validation split, close trials tie, and ASHA stops none of a tie).
DIVERGE_EPOCHS = 6
DIVERGING = ("mpsam", "xsam")
ASHA_TRIALS = 8
DIVERGE_STUDY = f"""\
name: diverge
data:
  name: synthetic
  synthetic: {{n_samples: 400}}
model: {{name: mlp, hidden: [32]}}
training: {{lr: 0.05, epochs: {DIVERGE_EPOCHS}, batch_size: 32}}
methods:
  - name: sgd
  - name: sam
    search: {{rho: {{low: 0.01, high: 20.0, log: true}}}}
  - name: mpsam
    lr: 3.0
    hparams: {{rho: 1.0e+14}}
  - name: xsam
    lr: 3.0
    hparams: {{rho: 1.0e+14}}
reference: sam
tuning: {{trials: {ASHA_TRIALS}, startup_trials: 2, scheduler: asha, grace_period: 1, reduction_factor: 2}}
evaluation: {{seeds: [0, 1]}}
resources: {{cpu: 1}}
retries: 0
"""


TINY_TEST_EXAMPLES = 80  # the tiny study's test split: 20% of its 400 synthetic examples


def write_tiny_study(folder: Path, *, trials: int = 4, epochs: int = 3, extra: str = "") -> Path:
    path = folder / "tiny.yaml"
    path.write_text(TINY_STUDY.format(trials=trials, epochs=epochs) + extra)
    return path


def expected_keys(trials: int) -> set[str]:
    tune = {f"tune/sam/search0/trial{i}" for i in range(trials)}
    return tune | {f"eval/{m}/seed{s}" for m in ("sgd", "sam") for s in (0, 1)}


def sam_study(*args: str, **popen: object) -> subprocess.Popen[str]:
    """``sam-study ARGS`` as a child process (the real command line, with its own Ray instance).

    Its Ctrl-C is at the default, as for a command started at a terminal: a test run started as a background job
    of a non-interactive shell (``.ci/run &``) inherits SIGINT ignored, and Python keeps an ignored SIGINT ignored.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "pipeline", *args], env=env, text=True, preexec_fn=default_sigint, **popen
    )


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_to_end(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None, python: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``sam-study ARGS`` to its end, in this environment (or ``env``), by this interpreter (or ``python``), output
    captured."""
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(python or sys.executable), "-m", "pipeline", *args],
        check=False,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


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


def check_table(table: pd.DataFrame, *, trials: int, epochs: int, study: str = "tiny") -> None:
    """The trials table of a complete tiny study of ``trials`` tuning trials of ``epochs`` epochs: every trial
    once, ok, with the columns the report and the nightly read."""
    assert set(table.trial_key) == expected_keys(trials)
    assert table.trial_key.is_unique, table.trial_key.value_counts()
    assert set(REQUIRED_COLUMNS) <= set(table.columns)
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
    assert (table.study == study).all()
    tune, evaluation = table[table.phase == "tune"], table[table.phase == "eval"]
    assert len(tune) == trials and (tune.method == "sam").all()
    assert tune.rho.between(0.01, 0.5).all() and tune.rho.nunique() == trials  # every trial its own ρ
    assert sorted(zip(evaluation.method, evaluation.seed, strict=True)) == [
        ("sam", 0),
        ("sam", 1),
        ("sgd", 0),
        ("sgd", 1),
    ]
    for column in ("val_accuracy", "test_accuracy"):
        assert table[column].between(0, 1).all()
    assert (table.epochs_run == epochs).all()
    assert all(len(json.loads(h)) == epochs for h in table.history_json)
    assert evaluation[evaluation.method == "sgd"].rho.isna().all()


def check_outcomes(study_dir: Path, table: pd.DataFrame, *, examples: int) -> dict[str, np.ndarray]:
    """Every evaluation trial of ``table`` that ran an epoch has its per-example outcomes file, and nothing else has
    one; each holds ``examples`` test predictions whose accuracy is the row's test accuracy. Returns the predictions
    by trial key."""
    folder = study_dir / "outcomes"
    scored = table[(table.phase == "eval") & table.test_accuracy.notna()]
    assert sorted(p.name for p in folder.iterdir()) == sorted(outcome_path(folder, k).name for k in scored.trial_key)
    predictions = {}
    for key, accuracy in zip(scored.trial_key, scored.test_accuracy, strict=True):
        outcomes = read_outcomes(folder, key)
        assert outcomes is not None and len(outcomes.predictions["test"]) == examples, key
        assert outcomes.correct().mean() == accuracy, key
        predictions[key] = outcomes.predictions["test"]
    return predictions


def read_table(table: Path) -> pd.DataFrame:
    """The trials table at ``table`` (``OUT/<study>/trials.parquet``) with the parts of a study still running or
    killed (only a study that ended has compacted them into that file), each trial once."""
    return read_frame(table)


def rows_recorded(table: Path) -> int:
    """The rows in the trials table at ``table`` so far (0 before the first)."""
    return len(read_frame(table)) if table_exists(table) else 0


def interrupt_after_rows(process: subprocess.Popen[str], table: Path, rows: int, timeout: float = 240) -> None:
    """Ctrl-C the study once its trials table holds ``rows`` rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the study ended (rc={process.returncode}) before {rows} trials were recorded")
        if rows_recorded(table) >= rows:
            process.send_signal(signal.SIGINT)
            return
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no {rows} rows in {table} within {timeout} s")


def check_mlflow(uri: str, table: pd.DataFrame, *, epochs: int, experiment: str = "tiny") -> None:
    """The study's MLflow runs at ``uri`` (in ``experiment``, the study's name) match its trials ``table``: one
    finished parent run (role=study) holding the study, selection, table and report; one finished child run per
    trial, with its tags, params, metrics (``epochs`` steps of history) and result.json."""
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=[experiment])
    parents = runs[runs["tags.role"] == "study"]
    assert len(parents) == 1
    parent_id = parents.run_id.iloc[0]
    assert parents.status.iloc[0] == "FINISHED"
    children = runs[runs["tags.role"] == "trial"]
    assert (children["tags.mlflow.parentRunId"] == parent_id).all()
    assert sorted(children["tags.trial_key"]) == sorted(table.trial_key), "one child run per trial"
    assert (children.status == "FINISHED").all()
    assert (children["tags.status"] == "ok").all()
    # The table points at each trial's run, and the run holds its metrics, params and tags.
    by_key = children.set_index("tags.trial_key")
    client = mlflow.MlflowClient(uri)
    for row in table.itertuples():
        run = by_key.loc[row.trial_key]
        assert run.run_id == row.mlflow_run_id
        assert run["tags.phase"] == row.phase and run["tags.method"] == row.method
        assert run["tags.seed"] == str(row.seed)
        assert run["metrics.test_accuracy"] == pytest.approx(row.test_accuracy)
        assert run["params.optimizer"] == row.optimizer
    some_run = table.mlflow_run_id.iloc[0]
    history = client.get_metric_history(some_run, "epoch/val_accuracy")
    assert sorted(m.step for m in history) == list(range(epochs))
    assert {a.path for a in client.list_artifacts(some_run)} >= {"result.json"}
    for run_id in table[(table.phase == "eval") & table.test_accuracy.notna()].mlflow_run_id:
        assert "outcomes.parquet" in {a.path for a in client.list_artifacts(run_id)}, run_id
    parent_files = {a.path for a in client.list_artifacts(parent_id)}
    assert {"study", "selection.json", "trials.parquet", "report"} <= parent_files
    report_files = {a.path for a in client.list_artifacts(parent_id, "report")}
    assert {"report/report.md", "report/stats.json", "report/figures"} <= report_files
    figures = {a.path for a in client.list_artifacts(parent_id, "report/figures")}
    assert "report/figures/accuracy.png" in figures and len(figures) >= 5


def check_training_experiment(uri: str, stdout: str, *, local: bool, experiment: str = "tiny") -> None:
    """The study's experiment is tagged as model training (not GenAI), and the run printed the UI link that opens
    its parent run in the training view (for a local store, with the command that serves the UI)."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found.tags.get("mlflow.experimentKind") == "custom_model_development"
    [parent] = client.search_runs([found.experiment_id], filter_string="tags.role = 'study'")
    base = "http://127.0.0.1:5000" if local else uri.rstrip("/")
    link = f"{base}/#/experiments/{found.experiment_id}/runs/{parent.info.run_id}?workflowType=machine_learning"
    assert link in stdout, stdout[-2000:]
    if local:
        assert f"mlflow ui --backend-store-uri {uri} --port 5000" in stdout

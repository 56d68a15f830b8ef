"""Processes killed mid-study, for real (SIGKILL): the driver, then a trial's Ray worker. Nothing is lost or
duplicated, and the trials table ends equal to that of an uninterrupted run (on CPU, for the same seeds)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from mlflow.tracking import MlflowClient

from pipeline.decisions.determinism import FINAL_METRICS, first_difference
from pipeline.results.row import TrialRow
from pipeline.train import TrialConfig, run_trial
from tests.study.processes import trial_with_a_checkpoint
from tests.study.study_files import (
    TINY_TEST_EXAMPLES,
    check_outcomes,
    expected_keys,
    read_table,
    rows_recorded,
    run_to_end,
    sam_study,
    write_tiny_study,
)

pytestmark = pytest.mark.slow

TRIALS = 6
# Two trials of the search at a time after a random start of two: the batches decide what each trial sees.
TUNING = "tuning: {trials: 6, startup_trials: 2, parallel: 2}"


def study_file(folder: Path, epochs: int = 4, extra: str = "") -> Path:
    path = write_tiny_study(folder, trials=TRIALS, epochs=epochs, extra=extra)
    path.write_text(path.read_text().replace("tuning: {trials: 6, startup_trials: 2}", TUNING))
    return path


def table(out: Path) -> pd.DataFrame:
    return read_table(out / "tiny" / "trials.parquet")


def wait_for(
    condition, what: str, process: subprocess.Popen | None = None, timeout: float = 300, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = log.read_text() if log is not None else ""
            raise AssertionError(f"the study ended (rc={process.returncode}) before {what}:\n{output}")
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


def assert_same_results(resumed: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Row for row by trial key: the searched values, the status and every metric, epoch by epoch (wall-clock
    times, nodes and run ids aside)."""
    assert sorted(resumed.trial_key) == sorted(reference.trial_key)
    left = {r["trial_key"]: TrialRow.from_record(r) for r in resumed.to_dict("records")}
    for row in (TrialRow.from_record(r) for r in reference.to_dict("records")):
        other = left[row.trial_key]
        assert other.params_json == row.params_json, row.trial_key
        assert other.status == row.status, row.trial_key
        assert first_difference(other, row) is None, (row.trial_key, first_difference(other, row))


def children_by_key(uri: str) -> dict[str, int]:
    client = MlflowClient(uri)
    [experiment] = [e for e in client.search_experiments() if e.name == "tiny"]
    runs = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=1000)
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.data.tags["trial_key"]] = counts.get(run.data.tags["trial_key"], 0) + 1
    return counts


def test_a_driver_killed_mid_study_resumes_to_the_table_of_an_uninterrupted_run(tmp_path: Path) -> None:
    study = study_file(tmp_path)
    reference_out, out = tmp_path / "reference", tmp_path / "out"
    done = run_to_end("run", str(study), "--out", str(reference_out), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    reference = table(reference_out)
    # The whole study is one Tune run, with no barrier after tuning: SGD, untuned, is evaluated while SAM's search
    # still runs (its later batches wait for the earlier ones), so an SGD run is recorded before SAM's last trial.
    assert [p.name.startswith("tiny-") for p in (reference_out / "ray").iterdir()] == [True], "one Tune run"
    order = list(reference.trial_key)
    first_sgd = min(i for i, key in enumerate(order) if key.startswith("eval/sgd/"))
    last_tuning = max(i for i, key in enumerate(order) if key.startswith("tune/sam/"))
    assert first_sgd < last_tuning, order

    log = tmp_path / "killed.log"
    with log.open("w") as sink:
        process = sam_study("run", str(study), "--out", str(out), stdout=sink, stderr=subprocess.STDOUT)
    path = out / "tiny" / "trials.parquet"
    wait_for(lambda: rows_recorded(path) >= 3, "3 recorded trials", process, log=log)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    killed = table(out)
    assert 3 <= len(killed) < len(expected_keys(TRIALS)), "the kill landed mid-study"

    resumed = run_to_end("run", str(study), "--out", str(out), timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming: {len(killed)} trial(s) done" in resumed.stdout
    final = table(out)
    assert final.trial_key.is_unique and set(final.trial_key) == expected_keys(TRIALS)
    # Completed trials were not run again: their rows are the very rows written before the kill.
    before = killed.set_index("trial_key").finished_at.to_dict()
    assert {k: v for k, v in final.set_index("trial_key").finished_at.items() if k in before} == before
    assert_same_results(final, reference)
    assert children_by_key(f"sqlite:///{out / 'mlflow.db'}") == {key: 1 for key in expected_keys(TRIALS)}
    # Per-example outcomes: one file per evaluation trial, none lost or doubled by the kill, each as uninterrupted.
    outcomes = check_outcomes(out / "tiny", final, examples=TINY_TEST_EXAMPLES)
    uninterrupted = check_outcomes(reference_out / "tiny", reference, examples=TINY_TEST_EXAMPLES)
    assert outcomes.keys() == uninterrupted.keys() and len(outcomes) == 4
    assert all(np.array_equal(outcomes[k], uninterrupted[k]) for k in outcomes)


def victim(process: subprocess.Popen, checkpoints: Path, keys: set[str], log: Path) -> tuple[str, psutil.Process]:
    """A trial of the study ``process`` that has written an epoch checkpoint, and the Ray worker running it. Only
    the processes below this test's own driver are looked at (its embedded Ray's raylet and the raylet's workers),
    never a trial worker of another study on this machine, of an earlier test, or one that is ending."""
    found: list[tuple[str, psutil.Process]] = []

    def caught() -> bool:
        found[:] = [hit] if (hit := trial_with_a_checkpoint(process.pid, checkpoints, keys)) else []
        return bool(found)

    wait_for(caught, "a trial with a checkpoint", process, log=log)
    return found[0]


def test_a_trial_whose_worker_is_killed_is_retried_and_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    # Slow enough per epoch (a larger net on more data) that a trial is caught between two epoch checkpoints; two
    # tuning trials (the search is test_a_driver_killed_mid_study's business), then the four evaluation runs.
    epochs, keys = 8, expected_keys(2)
    study = write_tiny_study(tmp_path, trials=2, epochs=epochs)
    text = study.read_text().replace("retries: 0", "retries: 1").replace("resources: {cpu: 1}", "max_concurrent: 1")
    text = text.replace("  synthetic: {n_samples: 400}\n", "  synthetic: {n_samples: 6000}\n")
    study.write_text(text.replace("model: {name: mlp, hidden: [32]}", "model: {name: mlp, hidden: [512, 512]}"))
    out, log = tmp_path / "out", tmp_path / "run.log"
    with log.open("w") as sink:
        process = sam_study("run", str(study), "--out", str(out), stdout=sink, stderr=subprocess.STDOUT)
    checkpoints = out / "tiny" / "checkpoints"
    # One trial at a time: once it has written its first epoch checkpoint, kill the worker running it.
    victim_key, worker = victim(process, checkpoints, keys, log)
    [checkpoint] = list(checkpoints.rglob("trial.ckpt"))
    worker.send_signal(signal.SIGKILL)
    assert process.wait(timeout=600) == 0, log.read_text()

    final = table(out)
    assert final.trial_key.is_unique and set(final.trial_key) == keys
    assert (final.status == "ok").all(), final[["trial_key", "status", "error"]]
    [resumed] = [TrialRow.from_record(r) for r in final[final.resumed_at_epoch.notna()].to_dict("records")]
    assert resumed.trial_key == victim_key, "the killed trial is the one that resumed"
    assert f"/{victim_key}-" in str(checkpoint)
    assert 1 <= resumed.resumed_at_epoch < epochs and resumed.epochs_run == epochs
    # The retried trial continued its own MLflow child run: one per trial.
    assert children_by_key(f"sqlite:///{out / 'mlflow.db'}") == {key: 1 for key in keys}
    # And it ended where the same trial run in one go ends, epoch for epoch.
    config = {**resumed.config, "checkpoint_dir": None}
    in_one_go = run_trial(TrialConfig.model_validate(config))
    assert in_one_go.resumed_at_epoch is None
    assert first_difference(resumed, resumed.replace(**trial_row_metrics(in_one_go))) is None
    assert resumed.test_accuracy == in_one_go.test_accuracy


def trial_row_metrics(result) -> dict:
    """The table's metric columns of a TrialResult."""
    summary = result.to_dict()
    return {**{k: summary[k] for k in FINAL_METRICS if k in summary}, "history_json": json.dumps(summary["history"])}

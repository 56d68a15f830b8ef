"""A suite of two tasks run for real with `sam-study run` (embedded Ray, MLflow in SQLite): each task a study in its
own folder, all of them in one Tune run; its MLflow runs nested suite > task > trial; its suite report. Killed by
SIGKILL of the driver and its embedded Ray in the middle, it resumes with every trial exactly once, and ends with
the tables of an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.study.processes import kill_tree
from tests.study.study_files import read_table, rows_recorded, run_to_end, sam_study
from tests.study.test_kills import assert_same_results, wait_for

pytestmark = pytest.mark.slow

SUITE = """\
name: tiny_suite
training: {lr: 0.05, epochs: 20, batch_size: 32}
methods:
  - name: sgd
  - name: sam
    search: {rho: {low: 0.01, high: 0.5, log: true}}
reference: sam
tuning: {trials: 3, startup_trials: 2}
evaluation: {seeds: {start: 2, step: 1, max: 3}, margin: 0.001}
tasks:
  - name: small
    data: {name: synthetic, synthetic: {n_samples: 400}}
    model: {name: mlp, hidden: [32]}
  - name: wide
    data: {name: synthetic, synthetic: {n_samples: 400, n_features: 20, n_informative: 10}}
    model: {name: mlp, hidden: [64]}
    methods:
      - {name: fsam, hparams: {rho: 0.05}}
claims:
  - {name: SAM beats SGD, method: sam, against: sgd}
max_concurrent: 1
resources: {cpu: 1}
retries: 0
"""
TASKS = ("small", "wide")


def write_suite(folder: Path) -> Path:
    path = folder / "tiny_suite.yaml"
    path.write_text(SUITE)
    return path


def tables(out: Path) -> dict[str, pd.DataFrame]:
    return {
        t: read_table(out / "tiny_suite" / t / "trials.parquet")
        for t in TASKS
        if rows_recorded(out / "tiny_suite" / t / "trials.parquet")
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = run_to_end("run", str(write_suite(folder)), "--out", str(folder / "out"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "out", done.stdout


def test_a_suite_runs_each_task_as_a_study_in_one_tune_run_with_a_suite_report(
    uninterrupted: tuple[Path, str],
) -> None:
    out, stdout = uninterrupted
    suite_dir = out / "tiny_suite"
    frames = tables(out)
    assert set(frames) == set(TASKS)
    for task, frame in frames.items():
        assert frame.trial_key.is_unique and (frame.status == "ok").all(), frame[["trial_key", "status", "error"]]
        assert (frame.study == task).all()
        assert len(frame[frame.phase == "tune"]) == 3
        assert (suite_dir / task / "report.md").is_file() and (suite_dir / task / "decisions.json").is_file()
    assert set(frames["wide"].method) == {"sgd", "sam", "fsam"} and set(frames["small"].method) == {"sgd", "sam"}
    # One Tune run for the whole suite: one experiment folder under OUT/ray.
    assert len([p for p in (out / "ray").iterdir() if p.is_dir()]) == 1
    assert "suite tiny_suite: 2 tasks (small, wide), each a study in its own folder" in stdout
    assert "task small: 2 methods" in stdout and "task wide: 3 methods" in stdout
    assert "small: [tune " in stdout and "wide: [eval " in stdout
    report = (suite_dir / "report.md").read_text()
    assert "# Suite report: tiny_suite" in report and "| SAM beats SGD |" in report
    stats = json.loads((suite_dir / "stats.json").read_text())
    assert stats["tasks"] == list(TASKS) and stats["methods"] == ["sgd", "sam"]
    assert {p.name for p in (suite_dir / "figures").iterdir()} >= {"iqm.png", "improvement.png", "profiles.png"}


def test_mlflow_nests_each_tasks_study_run_under_the_suite_run_and_each_trial_under_its_task(
    uninterrupted: tuple[Path, str],
) -> None:
    out, _ = uninterrupted
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "tiny_suite"]
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    [suite] = [r for r in runs if r.data.tags.get("role") == "suite"]
    studies = {r.data.tags["study"]: r for r in runs if r.data.tags.get("role") == "study"}
    assert set(studies) == set(TASKS)
    assert suite.info.status == "FINISHED"
    for task, run in studies.items():
        assert run.data.tags["mlflow.parentRunId"] == suite.info.run_id and run.info.status == "FINISHED"
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]
        keys = sorted(r.data.tags["trial_key"] for r in children)
        assert keys == sorted(tables(out)[task].trial_key)
    # sync-mlflow on a task finds its study run under the suite's experiment: nothing to create, no new experiment.
    synced = run_to_end("sync-mlflow", str(out / "tiny_suite" / "small"), timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert f"(parent run {studies['small'].info.run_id}): created 0, completed 0" in synced.stdout
    assert {e.name for e in client.search_experiments()} == {"Default", "tiny_suite"}
    artifacts = {f.path for f in client.list_artifacts(suite.info.run_id, "report")}
    assert {"report/report.md", "report/stats.json", "report/figures"} <= artifacts
    assert {f.path for f in client.list_artifacts(suite.info.run_id, "suite")} >= {"suite/tiny_suite.yaml"}


def test_a_suite_killed_mid_run_resumes_with_every_trial_once(tmp_path: Path, uninterrupted: tuple[Path, str]) -> None:
    reference, _ = uninterrupted
    suite = write_suite(tmp_path)
    out, log = tmp_path / "out", tmp_path / "killed.log"
    with log.open("w") as sink:
        process = sam_study(
            "run", str(suite), "--out", str(out), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        # Both tasks have rows: the kill lands with the Tune run in the middle of the suite.
        wait_for(
            lambda: sum(len(f) for f in tables(out).values()) >= 8 and len(tables(out)) == 2,
            "8 rows over both tasks",
            process,
            timeout=300,
            log=log,
        )
    finally:
        kill_tree(process)
    before = tables(out)
    done = run_to_end("run", str(suite), "--out", str(out), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming: " in done.stdout
    after, expected = tables(out), tables(reference)
    for task in TASKS:
        assert after[task].trial_key.is_unique, after[task].trial_key.value_counts()
        recorded = before[task].set_index("trial_key").finished_at.to_dict()
        assert {k: v for k, v in after[task].set_index("trial_key").finished_at.items() if k in recorded} == recorded
        assert_same_results(after[task], expected[task])
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "tiny_suite"]
    trials = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=1000)
    keys = [(r.data.tags["study"], r.data.tags["trial_key"]) for r in trials]
    assert sorted(keys) == sorted((t, k) for t in TASKS for k in after[t].trial_key), "one child run per trial"
    assert len([r for r in client.search_runs([experiment.experiment_id], "tags.role = 'suite'")]) == 1

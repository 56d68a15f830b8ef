"""What a trial's MLflow child run holds: the per-epoch curves under ``epoch/`` (a section of their own in MLflow's
UI, shown before the unprefixed metrics), one value per epoch; every final value once, under the trials table's
column name. `sam-study sync-mlflow` rebuilds the same run from the trial's row, and keeps a complete run of the
earlier layout as it is but replaces an incomplete one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.entities import Metric, Run

from pipeline.cli import main
from pipeline.results.row import TrialRow
from pipeline.results.table import TrialsTable
from pipeline.results.trial_contract import EpochReport, StudyProvenance, TrialOutcome, trial_row
from pipeline.spec.study import StudySpec, load_study
from pipeline.study.mlflow.parent import StudyTracking
from pipeline.study.plan import Tracking, TrialPlan, make_plan
from pipeline.study.trial_process import child_tags, final_metrics, run_planned_trial
from pipeline.train import EpochRecord
from tests.study.study_files import write_tiny_study

EPOCHS = 3
SERIES = {"epoch/train_loss", "epoch/val_loss", "epoch/val_accuracy", "epoch/lr", "epoch/seconds"}  # SGD: no rho


@dataclass(frozen=True)
class LoggedTrial:
    uri: str  # the store the trial logged its child run to
    folder: Path  # its study folder: spec.json and a trials table of its one row
    plan: TrialPlan
    row: TrialRow
    result: dict[str, Any]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedTrial]:
    """One SGD trial of the tiny study, run in this process and logged to a SQLite store."""
    tmp = tmp_path_factory.mktemp("child-run")
    spec = load_study(write_tiny_study(tmp, epochs=EPOCHS))
    folder = tmp / "out" / spec.name
    folder.mkdir(parents=True)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    study = StudyTracking(uri, spec.name, folder, tmp / "mlartifacts")
    plan = make_plan(
        spec,
        spec.methods[0],
        "eval",
        0,
        {},
        key="eval/sgd/seed0",
        study_dir=str(folder),
        tracking=Tracking(uri, study.experiment_id, study.parent_run_id),
        git_commit="c0ffee",
    )
    reports: list[dict[str, Any]] = []
    run_planned_trial(plan, reports.append, node="here")
    final = reports[-1]
    result = json.loads(final["result_json"])
    row = trial_row(TrialOutcome.from_tune(plan.to_tune(), final), StudyProvenance())
    _write_folder(folder, spec, row)
    yield LoggedTrial(uri, folder, plan, row, result)


def _write_folder(folder: Path, spec: StudySpec, row: TrialRow) -> None:
    (folder / "spec.json").write_text(json.dumps(spec.model_dump(mode="json")))
    TrialsTable(folder / "trials.parquet").append(row)


def _child(uri: str) -> Run:
    client = mlflow.MlflowClient(uri)
    [experiment] = [e for e in client.search_experiments() if e.name == "tiny"]
    [run] = client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    return run


def _histories(uri: str, run: Run) -> dict[str, list[tuple[int, float]]]:
    client = mlflow.MlflowClient(uri)
    return {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        for key in run.data.metrics
    }


def _sync(folder: Path, uri: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["sync-mlflow", str(folder), "--tracking-uri", uri]) == 0, capsys.readouterr()
    return capsys.readouterr().out


def test_the_curves_are_under_epoch_and_each_final_value_is_logged_once(logged: LoggedTrial) -> None:
    run = _child(logged.uri)
    histories = _histories(logged.uri, run)
    assert {k for k in histories if "/" in k} == SERIES
    for key in SERIES:
        assert [step for step, _ in histories[key]] == list(range(EPOCHS)), key
    history = json.loads(logged.row.history_json or "[]")
    assert [v for _, v in histories["epoch/val_accuracy"]] == pytest.approx([e["val_accuracy"] for e in history])

    finals = {k: v for k, v in final_metrics(logged.result).items() if v is not None}
    assert {k for k in histories if "/" not in k} == set(finals)
    assert {"test_accuracy", "val_accuracy", "final_test_accuracy", "best_epoch", "wall_time_s"} <= set(finals)
    assert "seed" not in finals  # an input, and the run's tag
    for key, value in finals.items():
        assert histories[key] == [(0, pytest.approx(value))], key
    assert run.data.metrics["val_accuracy"] == pytest.approx(logged.row.val_accuracy)  # the selected model's


def test_sync_mlflow_rebuilds_the_same_child_run_and_counts_the_logged_one_complete(
    logged: LoggedTrial, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rebuilt_uri = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    assert "created 1, completed 0, already there 0" in _sync(logged.folder, rebuilt_uri, capsys)
    logged_run, rebuilt = _child(logged.uri), _child(rebuilt_uri)
    assert _histories(rebuilt_uri, rebuilt) == _histories(logged.uri, logged_run)
    assert "created 0, completed 0, already there 1" in _sync(logged.folder, logged.uri, capsys)


def _legacy_child(uri: str, logged: LoggedTrial, *, complete: bool) -> str:
    """The trial's child run as the earlier layout logged it: per-epoch series unprefixed, the selected model's
    values as ``selected_*``, final values at step ``epochs_run``; cut off after two epochs unless ``complete``."""
    client = mlflow.MlflowClient(uri)
    [experiment] = [e for e in client.search_experiments() if e.name == "tiny"]
    [parent] = client.search_runs([experiment.experiment_id], "tags.role = 'study'")
    tags = {"mlflow.parentRunId": parent.info.run_id, "role": "trial", **child_tags(logged.plan)}
    run_id = client.create_run(experiment.experiment_id, tags=tags, run_name=logged.plan.key).info.run_id
    epochs = json.loads(logged.row.history_json or "[]")
    metrics = [
        Metric(k, float(v), 0, record["epoch"])
        for record in (epochs if complete else epochs[:2])
        for k, v in EpochReport.of(EpochRecord(**record), None).metrics().items()
        if v is not None
    ]
    if complete:
        old_name = {k: f"selected_{k}" for k in ("train_loss", "val_loss", "val_accuracy")}
        finals = final_metrics(logged.result).items()
        metrics += [Metric(old_name.get(k, k), float(v), 0, EPOCHS) for k, v in finals if v is not None]
        client.set_tag(run_id, "status", "ok")
    client.log_batch(run_id, metrics=metrics)
    if complete:
        client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "cut-off"])
def test_a_child_run_of_the_earlier_layout_is_kept_when_complete_and_replaced_when_not(
    logged: LoggedTrial, tmp_path: Path, capsys: pytest.CaptureFixture[str], complete: bool
) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    StudyTracking(uri, "tiny", logged.folder, tmp_path / "mlartifacts")  # the parent run, found again by sync
    old = _legacy_child(uri, logged, complete=complete)
    out = _sync(logged.folder, uri, capsys)
    if complete:
        assert "already there 1" in out and "deleted" not in out, out
        assert _child(uri).info.run_id == old
        return
    assert re.search(r"created 1, .*deleted 1 duplicate", out), out
    assert mlflow.MlflowClient(uri).get_run(old).info.lifecycle_stage == "deleted"
    assert _histories(uri, _child(uri)) == _histories(logged.uri, _child(logged.uri))

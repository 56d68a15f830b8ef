"""The trial contract: one conversion each way to what Ray carries, and a result whose fields drift from the trials
table's columns fails at import, not inside a Tune callback at the end of a trial."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from pipeline.results.trial_contract import (
    ContractError,
    EpochReport,
    FinalReport,
    StudyProvenance,
    Tracking,
    TrialOutcome,
    TrialPlan,
    check_columns,
    result_of_row,
    trial_row,
)
from pipeline.train import EpochRecord, TrialConfig, TrialResult

PLAN = TrialPlan(
    key="tune/sam/search0/trial1",
    study="s",
    phase="tune",
    method="sam",
    optimizer="sam",
    seed=3,
    config=TrialConfig(optimizer="sam", hparams={"rho": 0.1}, seed=3, epochs=2),
    params={"rho": 0.1},
    search=0,
    trial_index=1,
    tracking=Tracking("sqlite:///m.db", "1", "parent"),
)


def _result(status: str = "ok") -> TrialResult:
    history = [EpochRecord(e, 1.0 - e / 4, 0.9, 0.5 + e / 10, 0.05, 2.0) for e in range(2)]
    return TrialResult(
        status, "sam", 3, 0.61, 0.8, 0.6, 0.9, 0.75, 1, 2, 0.61, 0.6, None, None, history, None,
        5.0, 4.0, 2.0, 10, 100.0, 0.0, "cpu", {"torch": "2.5"}, PLAN.config.model_dump(mode="json"),
    )  # fmt: skip


def _through_ray(report: dict) -> dict:
    return json.loads(json.dumps(report))  # what Ray carries is JSON values


def test_a_plan_crosses_to_the_worker_and_back_unchanged() -> None:
    assert TrialPlan.from_tune(_through_ray(PLAN.to_tune())) == PLAN


def test_the_reports_cross_back_typed() -> None:
    epoch = EpochReport.of(EpochRecord(1, 0.5, 0.6, 0.7, 0.05, 2.0, 0.2), "run")
    assert EpochReport.from_tune(_through_ray(epoch.to_tune())) == epoch
    assert epoch.to_tune()["objective"] == 0.7
    final = FinalReport.of(_result(), "node", "run")
    assert FinalReport.from_tune(_through_ray(final.to_tune())) == final
    assert FinalReport.from_tune(epoch.to_tune()) is None and EpochReport.from_tune(final.to_tune()) is None
    assert FinalReport.of(_result("diverged"), "node", "run").to_tune()["objective"] == 0.0


def test_a_row_and_its_inverse_agree_with_the_result() -> None:
    final = FinalReport.of(_result(), "node", "run")
    outcome = TrialOutcome.from_tune(PLAN.to_tune(), _through_ray(final.to_tune()))
    row = trial_row(outcome, StudyProvenance("digest", {"ray": "2.60"}))
    assert (row.test_accuracy, row.epochs_run, row.node, row.mlflow_run_id, row.lr) == (0.61, 2, "node", "run", 0.05)
    assert row.versions == {"ray": "2.60", "torch": "2.5"} and row.code_digest == "digest"
    back = result_of_row(row)
    assert back is not None and list(back) == [f.name for f in dataclasses.fields(TrialResult)]
    assert back == {**final.result.to_dict(), "versions": row.versions}


def _renamed(field: str, new: str) -> type:
    """TrialResult with one field renamed, as an edit of ``pipeline/train/result.py`` would leave it."""
    specs = [
        (
            new if f.name == field else f.name,
            f.type,
            dataclasses.field(default=f.default, default_factory=f.default_factory),
        )
        for f in dataclasses.fields(TrialResult)
    ]  # fresh fields: make_dataclass renames the Field objects it is given
    return dataclasses.make_dataclass("TrialResult", specs)


def test_a_renamed_result_field_fails_the_check_by_name() -> None:
    check_columns()  # the contract as it is holds
    with pytest.raises(ContractError, match=r"TrialResult\.test_acc is no column of TrialRow"):
        check_columns(_renamed("test_accuracy", "test_acc"))
    with pytest.raises(ContractError, match=r"TrialResult has no field history"):
        check_columns(_renamed("history", "epochs"))


def test_a_renamed_result_field_fails_when_the_contract_is_imported() -> None:
    program = (
        "import dataclasses, pipeline.train.result as r\n"
        "fs = dataclasses.fields(r.TrialResult)\n"
        "specs = [('test_acc' if f.name == 'test_accuracy' else f.name, f.type) for f in fs]\n"
        "r.TrialResult = dataclasses.make_dataclass('TrialResult', specs)\n"
        "import pipeline.results.trial_contract\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ContractError" in done.stderr and "TrialResult.test_acc is no column of TrialRow" in done.stderr

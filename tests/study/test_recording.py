"""A trials-table row from a plan and what Ray reported, for a trial that ran to its end and one that did not."""

from __future__ import annotations

from pipeline.results.trial_contract import EpochReport, StudyProvenance, TrialOutcome, TrialPlan, trial_row
from pipeline.spec.study import parse_study
from pipeline.study.plan import make_plan

SPEC = parse_study(
    {
        "name": "s",
        "data": {"name": "synthetic"},
        "model": {"name": "mlp"},
        "methods": [{"name": "sgd"}, {"name": "xsam", "search": {"rho": {"low": 0.01, "high": 0.5}}}],
        "reference": "xsam",
        "evaluation": {"seeds": [0, 1]},
    }
)
PROVENANCE = StudyProvenance(code_digest="abc", versions={"ray": "2.60.0"})


def plan(params: dict) -> TrialPlan:
    method = SPEC.method("xsam")
    key = "tune/xsam/search0/trial3"
    return make_plan(SPEC, method, "tune", 0, params, key=key, study_dir="/o/s", tracking=None, git_commit="c0ffee",
                     search=0, trial_index=3)  # fmt: skip


def test_a_trial_stopped_between_epochs_takes_its_metrics_and_clock_from_its_last_report() -> None:
    last = {"epoch": 2, "val_accuracy": 0.7, "val_loss": 0.9, "time_total_s": 12.5, "rho": None}
    last["mlflow_run_id"] = "run1"
    outcome = TrialOutcome.from_tune(plan({"rho": 0.1}).to_tune(), last)  # no final report: stopped by ASHA
    assert outcome.last_epoch == EpochReport(2, None, 0.9, 0.7, None, None, None, "run1")
    row = trial_row(outcome, PROVENANCE)
    assert (row.status, row.stopped_by_scheduler, row.val_accuracy, row.wall_time_s, row.epochs_run) == (
        "ok", True, 0.7, 12.5, 3
    )  # fmt: skip
    assert row.test_accuracy is None and row.history_json is None and row.rho_trajectory is None
    assert row.rho == 0.1 and row.params == {"rho": 0.1} and row.search == 0 and row.trial_index == 3
    assert "search_every" not in row.hparams  # the trainer sets it: not a hyperparameter of the trial
    assert row.versions == {"ray": "2.60.0"} and row.code_digest == "abc" and row.git_commit == "c0ffee"


def test_a_trial_that_failed_before_reporting_has_no_clock_and_keeps_its_traceback() -> None:
    text = 'Traceback (most recent call last):\n  File "my_ext.py", line 3, in make_blobs\nRuntimeError: boom\n\n'
    outcome = TrialOutcome.from_tune(plan({"rho": 0.2}).to_tune(), {}, error=text)
    row = trial_row(outcome, PROVENANCE)
    assert row.status == "failed" and row.error == "RuntimeError: boom" and row.traceback == text.strip()
    assert row.wall_time_s is None and row.epochs_run is None
    unexplained = trial_row(TrialOutcome.from_tune(plan({"rho": 0.2}).to_tune(), {}, error=""), PROVENANCE)
    assert unexplained.status == "failed" and unexplained.traceback is None
    assert unexplained.error == "the trial failed (no error text was recorded)"

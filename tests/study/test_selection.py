"""Selection reads validation scores of tuning trials only, and breaks ties deterministically."""

from __future__ import annotations

import json

from pipeline.results.row import TrialRow
from pipeline.results.selection import objective, select
from pipeline.spec.study import MethodSpec
from tests.rows import make_row

SAM = MethodSpec.model_validate({"name": "sam", "search": {"rho": {"low": 0.01, "high": 1.0, "log": True}}})


def tune_row(index: int, rho: float, val: float | None, status: str = "ok", **extra: object) -> TrialRow:
    return make_row(
        **{
            "phase": "tune",
            "trial_key": f"tune/sam/search0/trial{index}",
            "search": 0,
            "trial_index": index,
            "status": status,
            "val_accuracy": val,
            "val_loss": extra.pop("val_loss", 1.0),
            "test_accuracy": extra.pop("test_accuracy", 0.5),
            "wall_time_s": 2.0,
            "params_json": json.dumps({"rho": rho}),
            **extra,
        }
    )


def test_the_best_validation_accuracy_wins_and_test_accuracy_is_ignored() -> None:
    rows = [
        tune_row(0, 0.05, 0.80, test_accuracy=0.99),
        tune_row(1, 0.2, 0.85, test_accuracy=0.10),
    ]
    chosen = select(SAM, rows)
    assert chosen.params == {"rho": 0.2} and chosen.source == "tuned" and chosen.val_accuracy == 0.85
    assert chosen.tuning_trials == 2 and chosen.tuning_time_s == 4.0


def test_ties_go_to_the_lower_validation_loss_then_the_earlier_trial() -> None:
    rows = [
        tune_row(0, 0.05, 0.8, val_loss=0.5),
        tune_row(1, 0.1, 0.8, val_loss=0.4),
        tune_row(2, 0.3, 0.8, val_loss=0.4),
    ]
    assert select(SAM, rows).params == {"rho": 0.1}


def test_diverged_and_failed_trials_are_never_selected_but_are_counted() -> None:
    rows = [
        tune_row(0, 5.0, 0.9, status="diverged"),
        tune_row(1, 0.02, 0.6),
        tune_row(2, 0.5, None, status="failed"),
    ]
    chosen = select(SAM, rows)
    assert chosen.params == {"rho": 0.02}
    assert chosen.tuning_trials == 3 and chosen.tuning_failed == 1
    assert objective(rows[0]) == 0.0 and objective(rows[2]) is None


def test_without_a_finished_trial_the_written_values_are_used_and_marked() -> None:
    chosen = select(SAM, [tune_row(0, 0.5, None, status="failed")])
    assert chosen.source == "fallback" and chosen.params == {}


def test_an_untuned_method_is_fixed() -> None:
    chosen = select(MethodSpec.model_validate({"name": "lets-sam"}), [])
    assert chosen.source == "fixed" and chosen.tuning_trials == 0

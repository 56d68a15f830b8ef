"""The exact-reproduction check of the nightly, on hand-made trials-table rows."""

from __future__ import annotations

import json

from pipeline.decisions.determinism import check_determinism, first_difference, why_not_comparable
from pipeline.results.row import TrialRow
from tests.rows import make_row


def row(method: str = "sam", seed: int = 0, **changes) -> TrialRow:
    history = [
        {"epoch": 0, "train_loss": 1.0, "val_loss": 0.9, "val_accuracy": 0.5, "lr": 0.1, "seconds": 0.3},
        {"epoch": 1, "train_loss": 0.8, "val_loss": 0.7, "val_accuracy": 0.6, "lr": 0.05, "seconds": 0.2},
    ]
    base = {
        "method": method,
        "seed": seed,
        "phase": "eval",
        "status": "ok",
        "device": "cpu (x86_64, 1 threads)",
        "code_digest": "abc",
        "version.torch": "2.13.0+cpu",
        "version.numpy": "2.4.6",
        "config_json": json.dumps({"lr": 0.1, "seed": seed, "checkpoint_dir": f"/out/night1/{method}{seed}"}),
        "history_json": json.dumps(history),
        "test_accuracy": 0.61,
        "val_accuracy": 0.6,
        "train_loss": 0.8,
        "val_loss": 0.7,
    }
    return make_row(**{**base, **changes})


def test_identical_runs_reproduce_even_from_another_folder_and_with_other_timings() -> None:
    now = row(config_json=json.dumps({"lr": 0.1, "seed": 0, "checkpoint_dir": "/out/night2/sam0"}))
    history = now.history
    history[0]["seconds"] = 9.9
    now = now.replace(history_json=json.dumps(history))
    assert why_not_comparable(now, row()) is None
    assert first_difference(now, row()) is None


def test_the_first_difference_is_the_earliest_epoch_then_the_final_metrics() -> None:
    history = row().history
    history[1]["val_accuracy"] = 0.61
    history[1]["train_loss"] = 0.81  # same epoch, earlier key in the record: reported first
    now = row(history_json=json.dumps(history), test_accuracy=0.7)
    assert first_difference(now, row()) == ("epoch 1 train_loss", 0.81, 0.8)
    assert first_difference(row(test_accuracy=0.7), row()) == ("test_accuracy", 0.7, 0.61)


def test_only_unchanged_cpu_runs_must_reproduce() -> None:
    base = row()
    assert why_not_comparable(row(config_json=json.dumps({"lr": 0.2, "seed": 0})), base) == "configuration changed"
    assert why_not_comparable(row(code_digest="def"), base) == "code_digest changed"
    assert why_not_comparable(row(**{"version.torch": "2.14.0"}), base) == "version.torch changed"
    assert why_not_comparable(row(device="cuda:0 (NVIDIA H200)"), base) == "not on the CPU"
    assert why_not_comparable(row(device="cpu (x86_64, 2 threads)"), base) == "device changed"
    assert why_not_comparable(row(status="diverged"), base) == "not ok in both runs"
    assert why_not_comparable(row(), base.replace(code_digest=None)) == "code_digest not recorded"


def test_check_counts_checked_skipped_and_names_each_mismatch() -> None:
    baseline = [row("sam", 0), row("sam", 1), row("sgd", 0)]
    current = [row("sam", 0), row("sam", 1, val_loss=0.71), row("sgd", 0, code_digest="new"), row("fsam", 0)]
    result = check_determinism(current, baseline)
    assert result.checked == 2 and not result.ok
    assert result.skipped == {"code_digest changed": 1, "not in the baseline": 1}
    [mismatch] = result.mismatches
    assert (mismatch.method, mismatch.seed, mismatch.metric) == ("sam", 1, "val_loss")
    assert mismatch.describe() == "sam seed 1: val_loss is 0.71, the baseline had 0.7"

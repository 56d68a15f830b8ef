"""The report's split of each comparison's spread, from the per-example outcomes in the study folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.cli import main
from pipeline.results.folder import REPORT_FILE, STATS_FILE
from pipeline.results.outcomes import write_outcomes
from tests.stats.synthetic_study import write_study

SEEDS, EXAMPLES, CLASSES = 12, 1000, 10


def correctness(rng: np.random.Generator, accuracy: float, run_sd: float) -> np.ndarray:
    """(seeds, examples) right or wrong: each seed's model as a whole ``run_sd`` better or worse, then each
    example independently."""
    shift = rng.normal(0.0, run_sd, (SEEDS, 1))
    return (rng.random((SEEDS, EXAMPLES)) < np.clip(accuracy + shift, 0, 1)).astype(int)


def write_outcome_study(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    right = {
        "sam": correctness(rng, 0.90, 0.0005),
        "sgd": correctness(rng, 0.88, 0.0005),  # nearly all of the spread is which examples each run gets right
        "fsam": correctness(rng, 0.91, 0.03),  # whole runs differ far more than a 1000-example test set does
    }
    study_dir = write_study(folder, {m: list(r.mean(axis=1)) for m, r in right.items()})
    labels = rng.integers(0, CLASSES, EXAMPLES)
    for method, matrix in right.items():
        for seed, row in enumerate(matrix):
            predicted = np.where(row == 1, labels, (labels + 1) % CLASSES)
            write_outcomes(study_dir / "outcomes", f"eval/{method}/seed{seed}", {"test": (predicted, labels)})
    return study_dir


def test_the_report_splits_each_comparisons_spread_and_names_the_lever(tmp_path: Path) -> None:
    study_dir = write_outcome_study(tmp_path)
    assert main(["report", str(study_dir), "--no-mlflow"]) == 0
    spread = {x["method"]: x for x in json.loads((study_dir / STATS_FILE).read_text())["spread"]}
    assert sorted(spread) == ["fsam", "sgd"]
    assert spread["sgd"]["lever"] == "test set" and spread["sgd"]["test_set_share"] > 0.6
    assert spread["fsam"]["lever"] == "seeds" and spread["fsam"]["test_set_share"] < 0.4
    for x in spread.values():
        assert (x["seeds"], x["examples"], x["factor"]) == (SEEDS, EXAMPLES, 4)
        assert x["test_set_share_low"] <= x["test_set_share"] <= x["test_set_share_high"]
        assert x["half_width_more_seeds"] < x["half_width"] and x["half_width_larger_test_set"] <= x["half_width"]
    # A larger test set helps the test-set-bound comparison far more than the run-bound one.
    gain = {m: x["half_width_larger_test_set"] / x["half_width"] for m, x in spread.items()}
    assert gain["sgd"] < 0.7 < 0.9 < gain["fsam"]
    report = (study_dir / REPORT_FILE).read_text()
    assert "### Where the spread comes from" in report
    assert "| sgd | 12 | 1000 |" in report and "| fsam | 12 | 1000 |" in report
    assert "- sgd: mostly the finite test set: a larger test set narrows the interval for the cost of" in report
    assert "- fsam: mostly between training runs: only more seeds narrow the interval much" in report
    verdict = report.split("## Verdict", 1)[1].split("##", 1)[0]
    words = "Where the spread comes from (per-example outcomes): a larger test set for sgd; more seeds for fsam."
    assert words in verdict
    assert (study_dir / "figures" / "spread.png").stat().st_size > 10_000
    assert "![Where the spread comes from](figures/spread.png)" in report


def test_a_study_without_outcomes_has_no_such_section(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    study_dir = write_study(tmp_path, {"sam": list(rng.normal(0.9, 0.01, 5)), "sgd": list(rng.normal(0.88, 0.01, 5))})
    assert main(["report", str(study_dir), "--no-mlflow"]) == 0
    report = (study_dir / REPORT_FILE).read_text()
    assert "Where the spread comes from" not in report and "spread.png" not in report  # not even as not drawn
    assert json.loads((study_dir / STATS_FILE).read_text())["spread"] == []
    assert not (study_dir / "figures" / "spread.png").exists()

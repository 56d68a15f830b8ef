"""The report of a study with sequential seeds: ``decisions.json``, its section of ``stats.json``, the Decisions
section and verdict of ``report.md``, ``decisions.png``; and a list of seeds, whose report has none of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.decisions import PROCEDURE, decide
from pipeline.report.write import ReportOutcome, write_report
from pipeline.results.folder import DECISIONS_FILE, REPORT_FILE, STATS_FILE, TABLE_FILE, StudyFolder
from pipeline.results.study_results import load_study_results
from pipeline.results.table import read_rows, write_rows
from tests.report.sequential_study import DIFFERENCES, MAX, SAM, sequential_scores, write_sequential_study
from tests.stats.synthetic_study import write_study


def strict_json(path: Path) -> Any:
    """The file's JSON, refusing NaN and infinities (which ``json.loads`` would otherwise accept)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{path.name} holds {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def section(report: str, heading: str) -> str:
    """The text under ``## heading``, up to the next ``## ``."""
    return report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> ReportOutcome:
    return write_report(write_sequential_study(tmp_path_factory.mktemp("sequential")))


def test_decisions_json_is_the_decisions_of_the_recorded_rows(sequential: ReportOutcome) -> None:
    results = load_study_results(sequential.study_dir)
    expected = decide(results.spec, results.rows).to_dict()
    assert sequential.decisions_path == StudyFolder(sequential.study_dir).decisions
    assert sequential.decisions_path.name == DECISIONS_FILE
    written = strict_json(sequential.decisions_path)
    assert written == json.loads(json.dumps(expected))
    assert written["procedure"] == PROCEDURE
    assert {m: v["seeds_spent"] for m, v in written["methods"].items()} == {"fsam": 3, "sgd": 5, "asam": 7}
    assert written["trials"] == {"spent": 22, "fixed_design_max": 28}


def test_stats_json_carries_the_same_decisions(sequential: ReportOutcome) -> None:
    stats = strict_json(sequential.study_dir / STATS_FILE)
    assert stats["decisions"] == strict_json(sequential.decisions_path)


def test_the_outcome_names_each_decision_for_the_driver(sequential: ReportOutcome) -> None:
    assert sequential.decision_tags == {"fsam": "better", "sgd": "worse", "asam": "undecided"}


def test_the_decisions_section_follows_the_verdict_with_one_row_per_method(sequential: ReportOutcome) -> None:
    report = (sequential.study_dir / REPORT_FILE).read_text()
    assert report.index("## Verdict") < report.index("## Decisions") < report.index("## Results")
    decisions = section(report, "Decisions")
    assert PROCEDURE in decisions and "α = 0.05, δ = 0.01" in decisions and "looks at 3, 5, 7 seeds" in decisions
    assert "Undecided: after the seeds it was given" in decisions
    assert "| fsam | **better** | 3 | 3 | +0.0201 |" in decisions
    assert "| sgd | **worse** | 5 | 5 | -0.0100 |" in decisions
    asam = next(line for line in decisions.splitlines() if line.startswith("| asam |"))
    cells = [c.strip() for c in asam.strip("|").split("|")]
    fixed = sequential.analysis.decisions.methods[2].fixed_design
    assert cells[:4] == ["asam", "undecided", "7", "–"]
    assert cells[6] == f"{fixed[0]} / {fixed[1]}" and cells[7] == "–"
    assert "22 spent (sam, the reference: 7 seeds), against 28 for a fixed design of 7 seeds" in decisions
    assert "21% saved" in decisions
    # The fixed-design p-values are still there, said to be descriptive.
    assert "do not account for the optional stopping" in section(report, "Results")


def test_the_verdict_names_the_procedure_and_each_decision(sequential: ReportOutcome) -> None:
    verdict = sequential.analysis.verdict
    assert PROCEDURE in verdict and "family-wise α = 0.05, δ = 0.01" in verdict and "3 to 7 paired seeds" in verdict
    assert "fsam better (+0.0201 after 3 seeds)" in verdict
    assert "sgd worse (-0.0100 after 5 seeds)" in verdict
    assert "asam undecided after 7 seeds (the interval still holds 0 and reaches beyond ±δ)" in verdict
    assert "22 of the 28 evaluation trials" in verdict


def test_decisions_png_is_drawn(sequential: ReportOutcome) -> None:
    assert "decisions.png" in [f.name for f in sequential.figures]
    assert "decisions.png" not in [s.name for s in sequential.skipped]
    assert (sequential.figures_dir / "decisions.png").stat().st_size > 0


def test_seeds_no_comparison_needed_are_not_missing(sequential: ReportOutcome) -> None:
    a = sequential.analysis
    assert a.problems == ()
    assert {c.method: (c.ok, c.missing) for c in a.run_counts} == {
        "sam": (7, 0),
        "fsam": (3, 0),
        "sgd": (5, 0),
        "asam": (7, 0),
    }
    assert sum(row.count("not needed") for row in a.status) == (MAX - 3) + (MAX - 5)
    assert "run(s) without a score" not in next(f.caption for f in sequential.figures if f.name == "accuracy.png")
    # Per-method summaries use the seeds each method has.
    assert {s.method: s.n for s in a.comparison.summaries} == {"sam": 7, "fsam": 3, "sgd": 5, "asam": 7}


def test_the_command_reports_a_sequential_study_as_complete(tmp_path: Path, capsys) -> None:
    study_dir = write_sequential_study(tmp_path)
    assert main(["report", str(study_dir), "--no-mlflow"]) == 0
    captured = capsys.readouterr()
    assert "incomplete" not in captured.err
    assert f"decisions: {study_dir / DECISIONS_FILE}" in captured.out


def test_a_failed_run_shows_why_its_comparison_stopped(tmp_path: Path) -> None:
    statuses = {"sgd": ["ok", "ok", "ok", "failed", "ok", "ok", "ok"]}
    outcome = write_report(write_sequential_study(tmp_path, statuses=statuses))
    report = (outcome.study_dir / REPORT_FILE).read_text()
    sgd = next(line for line in section(report, "Decisions").splitlines() if line.startswith("| sgd |"))
    assert sgd.endswith("| its run on seed 3 failed |")
    # Its second round (seeds 3 and 4) ran whole: seed 4 is counted, the seeds after it were never needed.
    counts = next(c for c in outcome.analysis.run_counts if c.method == "sgd")
    assert (counts.ok, counts.failed, counts.missing) == (4, 1, 0)
    assert outcome.analysis.problems == ()
    assert "sgd undecided, stopped after 3 seeds (its run on seed 3 failed)" in outcome.analysis.verdict


def test_an_unfinished_study_counts_only_the_seeds_its_next_looks_need(tmp_path: Path) -> None:
    # sam and asam have 5 seeds (asam undecided at 5, next look 7); sgd 3 (undecided, next look 5).
    scores = {
        "sam": [*SAM[:5], None, None],
        "fsam": [s + d for s, d in zip(SAM, DIFFERENCES["fsam"], strict=False)] + [None] * 4,
        "sgd": [s + d for s, d in zip(SAM, DIFFERENCES["sgd"][:3], strict=False)] + [None] * 4,
        "asam": [s + d for s, d in zip(SAM, DIFFERENCES["asam"][:5], strict=False)] + [None] * 2,
    }
    outcome = write_report(write_sequential_study(tmp_path, scores))
    missing = {c.method: c.missing for c in outcome.analysis.run_counts}
    assert missing == {"sam": 2, "fsam": 0, "sgd": 2, "asam": 2}
    assert "The study is not finished: 2 comparison(s) need more seeds." in outcome.analysis.verdict
    assert outcome.decision_tags == {"fsam": "better", "sgd": "undecided", "asam": "undecided"}


def test_a_list_of_seeds_has_no_decisions(tmp_path: Path) -> None:
    scores = {"sam": list(SAM), "fsam": [s + 0.02 for s in SAM], "sgd": [s - 0.01 for s in SAM]}
    outcome = write_report(write_study(tmp_path, scores))
    assert outcome.decisions_path is None and outcome.decision_tags == {}
    assert outcome.analysis.decisions is None
    assert not (outcome.study_dir / DECISIONS_FILE).exists()
    assert "decisions" not in strict_json(outcome.study_dir / STATS_FILE)
    report = (outcome.study_dir / REPORT_FILE).read_text()
    assert "## Decisions" not in report and "optional stopping" not in report
    assert "decisions.png" not in [f.name for f in outcome.figures] + [s.name for s in outcome.skipped]
    assert not (outcome.figures_dir / "decisions.png").exists()


def test_a_loss_is_decided_lower_is_better_and_shown_as_method_minus_reference(tmp_path: Path) -> None:
    study_dir = write_sequential_study(tmp_path, statistics={"metric": "test_loss"})
    table = study_dir / TABLE_FILE
    rows = read_rows(table)
    write_rows([r.replace(test_loss=1.0 - r.test_accuracy) if r.phase == "eval" else r for r in rows], table)
    outcome = write_report(study_dir)
    # fsam's loss is lower by 0.0201: better; decisions.json holds it oriented so that higher is better.
    assert outcome.decision_tags == {"fsam": "better", "sgd": "worse", "asam": "undecided"}
    fsam = strict_json(outcome.decisions_path)["methods"]["fsam"]["rounds"][0]
    assert fsam["estimate"] == pytest.approx(0.0201) and fsam["ci_low"] > 0
    report = (study_dir / REPORT_FILE).read_text()
    row = next(line for line in section(report, "Decisions").splitlines() if line.startswith("| fsam |"))
    low, high = -fsam["ci_high"], -fsam["ci_low"]
    assert f"| -0.0201 | [{low:+.4f}, {high:+.4f}] |" in row
    assert "fsam better (-0.0201 after 3 seeds)" in outcome.analysis.verdict


def test_differences_without_spread_write_finite_numbers(tmp_path: Path) -> None:
    # asam scores exactly sam's: std 0 at every look, so the intervals shrink to the estimate, 0, inside ±δ.
    differences = {**DIFFERENCES, "asam": (0.0, 0.0, 0.0)}
    outcome = write_report(write_sequential_study(tmp_path, sequential_scores(differences)))
    asam = strict_json(outcome.decisions_path)["methods"]["asam"]
    assert asam["decision"] == "equivalent" and asam["decided_at_seeds"] == 3
    assert asam["rounds"][0]["std"] == 0.0 and asam["rounds"][0]["ci_low"] == asam["rounds"][0]["ci_high"] == 0.0
    assert strict_json(outcome.study_dir / STATS_FILE)["decisions"]["methods"]["asam"] == asam
    assert "asam equivalent (+0.0000 after 3 seeds)" in outcome.analysis.verdict


def test_futility_stops_the_comparison_that_cannot_be_decided_and_says_why(tmp_path: Path) -> None:
    # asam, undecided up to max without futility, has no chance of a decision at 7 seeds from its first look.
    study_dir = write_sequential_study(tmp_path, futility=0.1)
    assert main(["report", str(study_dir), "--no-mlflow"]) == 0
    decisions = json.loads((study_dir / DECISIONS_FILE).read_text())["methods"]
    asam = decisions["asam"]
    assert asam["decision"] == "undecided" and asam["closed"] and len(asam["rounds"]) == 1
    assert asam["stopped"].startswith("cannot be decided within 7 seeds: a 0% chance of a decision there")
    assert asam["rounds"][0]["futile"] is True and asam["rounds"][0]["decidable"] < 0.1
    assert asam["fixed_design_seeds"] is not None
    # The decided comparisons are what they are without futility; their looks carry no futility fields at the
    # look that decided them.
    assert (decisions["fsam"]["decision"], decisions["sgd"]["decision"]) == ("better", "worse")
    assert "futile" not in decisions["fsam"]["rounds"][0]
    report = (study_dir / REPORT_FILE).read_text()
    assert "asam undecided, stopped after 3 seeds (cannot be decided within 7 seeds" in report


FOLDER_BEFORE_FUTILITY = Path(__file__).parent / "fixtures" / "sequential_before_futility"


def test_a_folder_written_before_futility_and_outcomes_existed_decides_exactly_as_it_did(tmp_path: Path) -> None:
    # spec.json, trials.parquet and decisions.json as `sam-study report` wrote them at 579dc72, before futility
    # stopping, per-example outcomes and test_size: today's report decides the same, to the last number.
    study_dir = tmp_path / "synthetic"
    study_dir.mkdir()
    for name in ("spec.json", "trials.parquet", "decisions.json"):
        (study_dir / name).write_bytes((FOLDER_BEFORE_FUTILITY / name).read_bytes())
    before = json.loads((study_dir / DECISIONS_FILE).read_text())
    assert main(["report", str(study_dir), "--no-mlflow"]) == 0
    assert json.loads((study_dir / DECISIONS_FILE).read_text()) == before
    assert "Where the spread comes from" not in (study_dir / REPORT_FILE).read_text()  # it kept no outcomes

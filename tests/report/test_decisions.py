"""``decide(spec, rows)``: a sequential study's decisions from its trials table, checked against the procedure
itself (``pipeline.stats.sequential``) on the differences written into a hand-made study folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.decisions import StudyDecisions, decide
from pipeline.results.study_results import FAILURE_SCORE, load_study_results
from pipeline.stats.sequential import Schedule, sequential_decisions
from tests.report.sequential_study import DIFFERENCES, MARGIN, MAX, SAM, START, STEP, write_sequential_study

OTHERS = ("fsam", "sgd", "asam")  # the spec's order, the reference sam aside


def decisions_of(study_dir: Path) -> StudyDecisions:
    results = load_study_results(study_dir)
    return decide(results.spec, results.rows)


def by_method(decisions: StudyDecisions):
    return {m.method: m for m in decisions.methods}


def scores_with(columns: dict[str, list[float | None]]) -> dict[str, list[float | None]]:
    """Scores of sam and the others, each padded with None (not run) up to MAX seeds."""
    return {m: list(v) + [None] * (MAX - len(v)) for m, v in columns.items()}


def test_the_decisions_are_the_sequential_procedure_on_the_recorded_differences(tmp_path: Path) -> None:
    decisions = decisions_of(write_sequential_study(tmp_path))
    # The differences as the table holds them: (sam + d) - sam, NaN past each method's last seed.
    differences = np.full((MAX, len(OTHERS)), np.nan)
    for j, method in enumerate(OTHERS):
        d = DIFFERENCES[method]
        differences[: len(d), j] = (np.array(SAM[: len(d)]) + np.array(d)) - np.array(SAM[: len(d)])
    expected = sequential_decisions(
        differences, Schedule(START, STEP, MAX), alpha=0.05, margin=MARGIN, n_family=len(OTHERS)
    )
    assert [m.method for m in decisions.methods] == list(OTHERS)
    assert [m.looks for m in decisions.methods] == [c.looks for c in expected]
    assert [m.next_n for m in decisions.methods] == [c.next_n for c in expected]
    assert {m.method: (m.decision, m.decided_at) for m in decisions.methods} == {
        "fsam": ("better", 3),
        "sgd": ("worse", 5),
        "asam": ("undecided", None),
    }
    assert [m.seeds_spent for m in decisions.methods] == [3, 5, 7]
    assert decisions.reference_spent == MAX and decisions.finished
    assert (decisions.spent_trials, decisions.fixed_trials) == (3 + 5 + 7 + 7, 4 * MAX)
    # Undecided at max: what a one-look design would need; the decided have no such figure.
    assert by_method(decisions)["asam"].fixed_design is not None
    assert by_method(decisions)["fsam"].fixed_design is None


def test_the_reference_needs_the_most_any_open_comparison_needs(tmp_path: Path) -> None:
    # fsam decided at 3; sgd undecided at 3 (next look 5); asam undecided at 5 (next look 7).
    scores = scores_with(
        {
            "sam": list(SAM[:5]),
            "fsam": [s + d for s, d in zip(SAM, DIFFERENCES["fsam"], strict=False)],
            "sgd": [s + d for s, d in zip(SAM[:3], DIFFERENCES["sgd"], strict=False)],
            "asam": [s + d for s, d in zip(SAM[:5], DIFFERENCES["asam"], strict=False)],
        }
    )
    decisions = decisions_of(write_sequential_study(tmp_path, scores))
    assert not decisions.finished
    assert {m: decisions.needed(m) for m in ("fsam", "sgd", "asam")} == {"fsam": 0, "sgd": 5, "asam": 7}
    assert decisions.needed("sam") == 7
    with pytest.raises(KeyError):
        decisions.needed("xsam")


def test_round_of_is_the_look_whose_seeds_first_include_the_seed(tmp_path: Path) -> None:
    decisions = decisions_of(write_sequential_study(tmp_path))
    assert decisions.looks == (3, 5, 7)
    assert [decisions.round_of(seed) for seed in range(MAX)] == [0, 0, 0, 1, 1, 2, 2]


def test_a_failed_run_stops_its_comparison_undecided_naming_the_seed(tmp_path: Path) -> None:
    # sgd is undecided at its first look; its run on seed 3 then fails, so no look at 5 can ever be made.
    statuses = {"sgd": ["ok", "ok", "ok", "failed", "ok", "ok", "ok"]}
    decisions = decisions_of(write_sequential_study(tmp_path, statuses=statuses))
    sgd = by_method(decisions)["sgd"]
    assert sgd.stopped == "its run on seed 3 failed"
    assert sgd.decision == "undecided" and sgd.closed and sgd.decided_at is None
    assert [look.n for look in sgd.looks] == [3]
    assert decisions.needed("sgd") == 0


def test_a_diverged_run_is_scored_as_a_failure_on_an_accuracy_metric(tmp_path: Path) -> None:
    statuses = {"asam": ["ok", "diverged", "ok", "ok", "ok", "ok", "ok"]}
    decisions = decisions_of(write_sequential_study(tmp_path, statuses=statuses))
    asam = by_method(decisions)["asam"]
    d = np.array(DIFFERENCES["asam"][:3])
    d[1] = FAILURE_SCORE - SAM[1]  # the diverged run scores 0 accuracy, not its recorded 0.1
    assert FAILURE_SCORE == 0.0
    assert asam.looks[0].estimate == pytest.approx(d.mean(), abs=1e-12)
    assert asam.looks[0].std == pytest.approx(d.std(ddof=1), abs=1e-12)
    assert asam.stopped is None

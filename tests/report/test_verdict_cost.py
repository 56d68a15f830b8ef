"""The verdict's cost rests on passes per step, which no rerun changes; the measured time ratio rides beside it.

Two studies whose rows differ only in their measured times (a rerun on a busier machine) must reach the same
verdict word for word, apart from the measured ratios themselves.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from pipeline.report.stats_record import StudyAnalysis
from tests.report.study_folder import analysis_of, write_changed_study

LETS_PASSES = 2.1  # LETS-SAM: SAM's 2 passes plus a validation pass every 10 steps
MEASURED_RATIO = re.compile(r"^\d+\.\d+×$")


def scores(n: int = 8) -> dict[str, list[float]]:
    """fsam and lets-sam clearly better than sam, sgd clearly worse: three methods carry a cost in the verdict."""
    rng = np.random.default_rng(11)
    sam = rng.normal(0.90, 0.01, n)
    return {
        "sam": list(sam),
        "fsam": list(sam + 0.02 + rng.normal(0.0, 0.003, n)),
        "sgd": list(sam - 0.02 + rng.normal(0.0, 0.003, n)),
        "lets-sam": list(sam + 0.015 + rng.normal(0.0, 0.003, n)),
    }


def timed(load: dict[str, float]):
    """A row with its measured times scaled per method (a machine loaded unevenly), LETS's passes as recorded."""

    def change(row):
        row = replace(row, passes_per_step=LETS_PASSES) if row.method == "lets-sam" else row
        scale = load.get(row.method, 1.0)
        return replace(
            row,
            wall_time_s=row.wall_time_s * scale,
            train_time_s=row.train_time_s * scale if row.train_time_s is not None else None,
        )

    return change


@pytest.fixture(scope="module")
def quiet_and_loaded(tmp_path_factory) -> tuple[StudyAnalysis, StudyAnalysis]:
    folder = tmp_path_factory.mktemp("verdict_cost")
    quiet = write_changed_study(folder / "quiet", scores(), change=timed({}))
    loaded = write_changed_study(folder / "loaded", scores(), change=timed({"fsam": 1.6, "sam": 1.1, "sgd": 1.3}))
    return analysis_of(quiet), analysis_of(loaded)


def costs(a: StudyAnalysis) -> dict:
    return {c.method: c for c in a.costs}


def is_measured_ratio(word: str, a: StudyAnalysis) -> bool:
    """``1.45×``, within rounding of one of the analysis's measured time ratios to the reference."""
    if not MEASURED_RATIO.match(word):
        return False
    value = float(word.removesuffix("×"))
    return any(abs(value - c.time_vs_reference) <= 0.005 for c in a.costs if c.time_vs_reference is not None)


def test_only_the_measured_ratios_differ_between_a_quiet_and_a_loaded_rerun(quiet_and_loaded):
    quiet, loaded = quiet_and_loaded
    assert quiet.verdict != loaded.verdict  # the measured times are still stated
    words_q, words_l = quiet.verdict.split(), loaded.verdict.split()
    assert len(words_q) == len(words_l)
    differing = [(q, lo) for q, lo in zip(words_q, words_l, strict=True) if q != lo]
    assert differing
    assert all(is_measured_ratio(q, quiet) and is_measured_ratio(lo, loaded) for q, lo in differing)


def test_the_passes_per_step_figure_is_stated_and_identical(quiet_and_loaded):
    quiet, loaded = quiet_and_loaded
    decided = [v.method for v in quiet.comparison.versus_reference if v.outcome in ("better", "worse")]
    assert sorted(decided) == ["fsam", "lets-sam", "sgd"]
    for method in decided:
        q, lo = costs(quiet)[method], costs(loaded)[method]
        assert (q.passes_per_step, q.passes_vs_reference) == (lo.passes_per_step, lo.passes_vs_reference)
        assert q.time_vs_reference != lo.time_vs_reference
        for a in (quiet, loaded):
            # Within the method's parenthesis the passes come first, the measured ratio after them.
            clause = a.verdict.split(f"{method} (", 1)[1].split(")", 1)[0]
            stated = re.search(rf"(?<![\d.]){q.passes_per_step:g} pass(es)? per step", clause)
            measured = next(i for i, w in enumerate(clause.split()) if is_measured_ratio(w, a))
            assert stated and len(clause[: stated.start()].split()) < measured, (method, clause)


def test_fractional_lets_passes_are_used_as_recorded(quiet_and_loaded):
    quiet, _ = quiet_and_loaded
    lets = costs(quiet)["lets-sam"]
    assert lets.passes_per_step == pytest.approx(LETS_PASSES)
    assert lets.passes_vs_reference == pytest.approx(LETS_PASSES / 2.0)
    assert costs(quiet)["sgd"].passes_vs_reference == pytest.approx(0.5)
    assert costs(quiet)["sam"].passes_vs_reference == pytest.approx(1.0)


def test_stats_json_carries_both_the_passes_and_the_measured_ratio(quiet_and_loaded):
    _, loaded = quiet_and_loaded
    fsam = next(c for c in loaded.to_dict()["costs"] if c["method"] == "fsam")
    assert fsam["passes_vs_reference"] == pytest.approx(1.0)
    assert fsam["time_vs_reference"] == pytest.approx(1.6 / 1.1 * (1.05 * 4 + 1) / (1.0 * 4 + 1))

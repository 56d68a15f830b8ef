"""The report's figures: every PNG is written and shows something, skips carry reasons, one failure costs no other."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from pipeline.report.figures import FigureFile, SkippedFigure, critical_difference, draw, draw_figures, style
from pipeline.report.stats_record import (
    LetsTrajectory,
    MethodCost,
    RunCounts,
    ShiftSummary,
    StudyAnalysis,
    TuningPoint,
    TuningSummary,
)
from pipeline.spec.study import StatisticsSpec
from pipeline.stats.comparison import ComparisonSettings, compare_methods

ALL = (
    "accuracy.png",
    "differences.png",
    "critical_difference.png",
    "tuning.png",
    "lets_rho.png",
    "compute.png",
    "shift.png",
)
OPTIMIZERS = {"sgd": "sgd", "sam": "sam", "asam": "asam", "lets-sam": "lets-sam"}


@pytest.fixture(autouse=True)
def fast_dpi(monkeypatch):
    """Smaller images keep the tests fast; the drawing is the same."""
    monkeypatch.setattr(style, "DPI", 60)


def make_analysis(
    methods=("sgd", "sam", "asam", "lets-sam"),
    n_seeds: int = 4,
    *,
    lets: bool = True,
    shift: bool = True,
    comparison: bool = True,
    diverged: tuple[int, int] | None = (0, 0),
    alternative: str = "two-sided",
) -> StudyAnalysis:
    """A small analysis by hand: random scores around 0.9, a real Comparison, tuning points, trajectories."""
    rng = np.random.default_rng(1)
    scores = 0.9 + 0.02 * rng.standard_normal((n_seeds, len(methods)))
    scores[:, -1] += 0.03  # one clearly better method
    status = [["ok"] * len(methods) for _ in range(n_seeds)]
    if diverged is not None:  # a diverged run scored as a failure
        i, j = diverged
        scores[i, j] = 0.0
        status[i][j] = "diverged"
    settings = ComparisonSettings(alternative=alternative)
    comp = compare_methods(scores, list(methods), "sam", settings) if comparison else None
    tuning = tuple(
        TuningSummary(
            method=m,
            source="tuned" if m in ("sam", "asam") else "fixed",
            params={},
            val_accuracy=0.9,
            trials=4,
            failed=1,
            diverged=1,
            time_s=10.0,
            points=(
                ()
                if m not in ("sam", "asam")
                else (
                    TuningPoint(0.01, 0.88, "ok", {"rho": 0.01}, False),
                    TuningPoint(0.05, 0.91, "ok", {"rho": 0.05}, True),
                    TuningPoint(0.5, 0.0, "diverged", {"rho": 0.5}, False),
                    TuningPoint(0.2, None, "failed", {"rho": 0.2}, False),
                )
            ),
        )
        for m in methods
    )
    costs = tuple(
        MethodCost(
            method=m,
            optimizer=OPTIMIZERS.get(m, m),
            passes_per_step=float(1 + j),
            seconds_per_epoch=1.0,
            eval_runs=n_seeds,
            eval_time_s=10.0 * (j + 1) * n_seeds,
            mean_run_time_s=None if m == "asam" else 10.0 * (j + 1),  # one method without a time
            tuning_trials=0,
            tuning_time_s=0.0,
            total_time_s=10.0,
            time_vs_sgd=None,
            gain_vs_sgd=None,
            gain_per_extra_sgd_run=None,
        )
        for j, m in enumerate(methods)
    )
    trajectories = tuple(
        LetsTrajectory("lets-sam", seed, tuple(0.05 + 0.01 * seed + 0.002 * np.arange(6)))
        for seed in range(n_seeds)
        if lets
    )
    shifts = tuple(ShiftSummary(m, n_seeds, 0.9, 0.7 + 0.02 * j, 0.2 - 0.02 * j, 0.01) for j, m in enumerate(methods))
    return StudyAnalysis(
        study="toy",
        description="",
        study_dir="/nowhere",
        statistics=StatisticsSpec(alternative=alternative),
        higher_is_better=True,
        reference="sam",
        seeds=tuple(range(n_seeds)),
        methods=tuple(methods),
        scores=[[float(v) for v in row] for row in scores],
        status=status,
        run_counts=tuple(RunCounts(m, n_seeds, 0, 0, 0, 0) for m in methods),
        comparison=comp,
        costs=costs,
        tuned_vs_lets=(),
        tuning=tuning,
        lets_trajectories=trajectories,
        shift=shifts if shift else (),
        verdict="",
        problems=(),
        notes=(),
    )


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100 and image.shape[2] in (3, 4)
    assert image[..., :3].std() > 0.01, f"{path.name} is a single flat colour"


def by_name(items) -> dict:
    return {x.name: x for x in items}


def test_every_figure_is_written_when_the_data_is_there(tmp_path):
    out = tmp_path / "figs" / "nested"  # created if missing
    written, skipped = draw_figures(make_analysis(), out)
    assert skipped == []
    assert [f.name for f in written] == list(ALL)
    for f in written:
        assert isinstance(f, FigureFile) and f.title and len(f.caption) > 40
        assert_png(out / f.name)
    captions = by_name(written)
    assert "diverged" in captions["accuracy.png"].caption  # the × marker is explained
    assert "wall seconds" in captions["compute.png"].caption
    assert "asam" in captions["compute.png"].caption  # left out for lack of a run time, and said so
    assert sorted(p.name for p in out.iterdir()) == sorted(ALL)


def test_without_lets_or_shift_those_figures_are_skipped_with_reasons(tmp_path):
    written, skipped = draw_figures(make_analysis(lets=False, shift=False, diverged=None), tmp_path)
    reasons = {s.name: s.reason for s in skipped}
    assert reasons == {
        "lets_rho.png": "no LETS run finished with a ρ trajectory",  # the study has a lets- optimizer
        "shift.png": "the study has no shifted test set",
    }
    assert not (tmp_path / "shift.png").exists()
    for f in written:
        assert_png(tmp_path / f.name)

    no_lets = make_analysis(methods=("sgd", "sam", "asam"), lets=False)
    _, skipped = draw_figures(no_lets, tmp_path / "b")
    assert by_name(skipped)["lets_rho.png"].reason == "no LETS method in the study"


def test_without_a_comparison_four_figures_are_skipped_and_the_rest_drawn(tmp_path):
    written, skipped = draw_figures(make_analysis(comparison=False), tmp_path)
    reasons = {s.name: s.reason for s in skipped}
    assert set(reasons) == {"accuracy.png", "differences.png", "critical_difference.png", "compute.png"}
    assert all("comparison" in r for r in reasons.values())
    assert [f.name for f in written] == ["tuning.png", "lets_rho.png", "shift.png"]
    for f in written:
        assert_png(tmp_path / f.name)


def test_one_failing_figure_costs_no_other(tmp_path, monkeypatch):
    def boom(analysis):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(draw, "critical_difference_figure", boom)
    (tmp_path / "critical_difference.png").write_bytes(b"stale")  # a stale file from an earlier run goes
    written, skipped = draw_figures(make_analysis(), tmp_path)
    assert skipped == [SkippedFigure("critical_difference.png", "could not be drawn: broken on purpose")]
    assert [f.name for f in written] == [n for n in ALL if n != "critical_difference.png"]
    assert not (tmp_path / "critical_difference.png").exists()
    for f in written:
        assert_png(tmp_path / f.name)


def test_one_sided_intervals_and_nothing_tested(tmp_path):
    # one-sided: one end of every t-interval is infinite; it is clipped and said so
    written, _ = draw_figures(make_analysis(alternative="better"), tmp_path)
    assert "infinite" in by_name(written)["differences.png"].caption
    assert_png(tmp_path / "differences.png")

    # a single seed: nothing can be tested, ranks have no Friedman test, the CD diagram still draws
    a = make_analysis(n_seeds=1, diverged=None)
    written, skipped = draw_figures(a, tmp_path / "one")
    reasons = {s.name: s.reason for s in skipped}
    assert "nothing tested" in reasons["differences.png"]
    assert "critical_difference.png" in by_name(written)


def test_no_scores_and_no_tuning(tmp_path):
    a = make_analysis(diverged=None)
    a = replace(
        a,
        scores=[[None] * len(a.methods) for _ in a.seeds],
        tuning=tuple(replace(t, points=()) for t in a.tuning),
    )
    _, skipped = draw_figures(a, tmp_path)
    reasons = {s.name: s.reason for s in skipped}
    assert "no evaluation run has a test_accuracy score" in reasons["accuracy.png"]
    assert "ρ" in reasons["tuning.png"]


@pytest.mark.parametrize(
    ("ranks", "cd", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 1.5, [(0, 1), (1, 2), (2, 3)]),
        ([1.0, 1.2, 1.4, 3.9], 1.0, [(0, 2)]),  # the lone method is in no group
        ([3.0, 1.0, 2.0], 5.0, [(0, 2)]),  # indices into the sorted ranks
        ([1.0, 2.0], 0.5, []),
    ],
)
def test_cliques_are_the_maximal_groups_within_cd(ranks, cd, expected):
    assert critical_difference.cliques(ranks, cd) == expected

"""The one decision engine: ``decide(spec, rows)``, each method against the reference, and
``decide(spec, rows, baseline=rows)``, each method against its own baseline runs (the nightly).

Both run the same steps on recorded rows alone: the metric matrix, oriented so that higher is better; the paired
differences, each column cut at its first seed without a number (saying why it stops there for good); the rounds
of ``evaluation.seeds`` (``{start, step, max}``); ``pipeline.stats.sequential``. Since nothing but the rows is
read, a resumed study makes exactly the decisions an uninterrupted one makes. The driver asks it which seeds each
method needs next, the report writes what it decided, the nightly decides its rounds with it.

Scores are the metric's; a diverged run is scored as a failure (the worst accuracy). A comparison whose run failed
(or diverged on a loss metric, which has no worst value) stops at the seed before it and ends undecided, saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from pipeline.decisions.records import MethodDecision, StudyDecisions
from pipeline.results.row import TrialRow
from pipeline.results.study_results import MetricMatrix, metric_matrix, metric_sign
from pipeline.spec.study import SequentialSeeds, StudySpec
from pipeline.stats.sequential import (
    UNDECIDED,
    Look,
    Schedule,
    SequentialComparison,
    fixed_design_seeds,
    sequential_decisions,
)

NON_INFERIOR, REGRESSED = "non-inferior", "regressed"  # against a baseline: better, worse than -δ
BASELINE = "<baseline>"  # the reference of decisions against a baseline: no method can be named so

# Why a column's first gap (seed position i, column j) ends it for good; None: the seed is only not run yet.
Why = Callable[[int, int], str | None]


def decide(spec: StudySpec, rows: list[TrialRow], *, baseline: list[TrialRow] | None = None) -> StudyDecisions:
    """The decisions of a study with sequential seeds, from its trials-table rows: each method against the
    reference, or, given ``baseline`` (another run's rows of the same study), each method against its own
    baseline runs paired by seed, with the study's ``regression`` settings."""
    rounds = spec.evaluation.seeds
    if not isinstance(rounds, SequentialSeeds):
        raise ValueError("decide() is for studies with sequential seeds ({start, step, max})")
    schedule = Schedule(rounds.start, rounds.step, rounds.max)
    if baseline is None:
        return _against_reference(spec, rows, schedule)
    return _against_baseline(spec, rows, baseline, schedule)


def _against_reference(spec: StudySpec, rows: list[TrialRow], schedule: Schedule) -> StudyDecisions:
    metric, alpha, margin = spec.statistics.metric, spec.statistics.alpha, spec.evaluation.equivalence_margin
    matrix = metric_matrix(spec, rows, metric, "failure")
    names = [m.name for m in spec.methods]
    ref = names.index(spec.reference)
    others = [j for j in range(len(names)) if j != ref]
    scores = matrix.scores * metric_sign(metric)
    differences = scores[:, others] - scores[:, [ref]]
    why = _recorded_without_a_score(matrix.status[:, others], matrix.status[:, ref], matrix.seeds)
    futility = spec.evaluation.futility_threshold
    compared, stops = _sequential(
        differences, why, schedule, alpha=alpha, margin=margin, n_family=len(others), futility=futility
    )
    stops = [stop or _futile(c, schedule) for c, stop in zip(compared, stops, strict=True)]
    spent = _spent(matrix)
    methods = tuple(
        MethodDecision(names[j], c, int(spent[j]), stop, _fixed_design(c, alpha, len(others), margin))
        for j, c, stop in zip(others, compared, stops, strict=True)
    )
    return StudyDecisions(spec.reference, metric, alpha, margin, schedule.looks, matrix.seeds, methods, int(spent[ref]))


def _against_baseline(
    spec: StudySpec, current: list[TrialRow], baseline: list[TrialRow], schedule: Schedule
) -> StudyDecisions:
    """``sequential_decisions`` on (this run − baseline) + δ: a method is non-inferior once the repeated interval
    of its change lies above −δ, and regressed once it lies below −δ, with α (``regression.alpha``) split over the
    methods and looks. The looks are reported as the change itself. A seed the baseline lacks ends a comparison
    there; a method without any baseline run gets every seed (next night's baseline has it whole)."""
    if spec.regression is None:
        raise ValueError("decide(..., baseline=...) is for studies with `regression` settings")
    settings = spec.regression
    now = metric_matrix(spec, current, settings.metric, "failure")
    then = metric_matrix(spec, baseline, settings.metric, "failure")
    change = metric_sign(settings.metric) * (now.scores - then.scores)
    why = _without_a_baseline_score(now.status, then.status, now.seeds)
    compared, stops = _sequential(
        change + settings.margin, why, schedule, alpha=settings.alpha, margin=0.0, n_family=len(now.methods)
    )
    spent = _spent(now)
    methods = []
    for j, (c, stop) in enumerate(zip(compared, stops, strict=True)):
        looks = tuple(_as_change(look, settings.margin) for look in c.looks)
        next_n = c.next_n
        if not np.isfinite(then.scores[:, j]).any():  # nothing to compare with: run every seed
            next_n, stop = (schedule.max if spent[j] < schedule.max else None), None
        methods.append(MethodDecision(now.methods[j], replace(c, looks=looks, next_n=next_n), int(spent[j]), stop))
    return StudyDecisions(
        BASELINE, settings.metric, settings.alpha, settings.margin, schedule.looks, now.seeds, tuple(methods), 0
    )


def _sequential(
    differences: np.ndarray,
    why: Why,
    schedule: Schedule,
    *,
    alpha: float,
    margin: float,
    n_family: int,
    futility: float = 0.0,
) -> tuple[list[SequentialComparison], list[str | None]]:
    """The comparisons of the columns of ``differences`` (higher is better), each cut at its first gap; a
    comparison stopped there for good is closed (``next_n`` None)."""
    cut, stops = cut_at_first_gap(differences, why)
    compared = sequential_decisions(cut, schedule, alpha=alpha, margin=margin, n_family=n_family, futility=futility)
    return [c if stop is None else replace(c, next_n=None) for c, stop in zip(compared, stops, strict=True)], stops


def cut_at_first_gap(differences: np.ndarray, why: Why) -> tuple[np.ndarray, list[str | None]]:
    """Each column of ``differences`` up to its first seed without a number (NaN after it), and why the column
    stops there for good: ``why(i, j)`` for that seed position i, None where the seed is only not run yet."""
    d = differences.copy()
    stops: list[str | None] = []
    for j in range(d.shape[1]):
        gaps = np.flatnonzero(~np.isfinite(d[:, j]))
        stop = None
        if gaps.size:
            d[int(gaps[0]) :, j] = np.nan
            stop = why(int(gaps[0]), j)
        stops.append(stop)
    return d, stops


def _spent(matrix: MetricMatrix) -> np.ndarray:
    """The evaluation runs recorded per method, whatever their status: ``(n_methods,)``."""
    return (matrix.status != "missing").sum(axis=0)


def _futile(c: SequentialComparison, schedule: Schedule) -> str | None:
    """Why a comparison stopped for futility, in words; None when it did not."""
    if not c.stopped_for_futility:
        return None
    chance = c.looks[-1].decidable or 0.0
    return f"cannot be decided within {schedule.max} seeds: a {chance:.0%} chance of a decision there"


def _fixed_design(
    c: SequentialComparison, alpha: float, n_family: int, margin: float
) -> tuple[int | None, int | None] | None:
    """For a comparison closed undecided: the seeds one look would need (difference, equivalence)."""
    if not (c.closed and c.decision == UNDECIDED and c.looks and c.looks[-1].std > 0):
        return None
    last = c.looks[-1]
    need = fixed_design_seeds(last.estimate, last.std, alpha=alpha, n_family=n_family, margin=margin)
    return need.difference, need.equivalence


def _as_change(look: Look, margin: float) -> Look:
    """A look on change + δ, as the change itself, its better/worse named as against a baseline."""
    decision = {"better": NON_INFERIOR, "worse": REGRESSED}.get(look.decision, look.decision)
    return replace(
        look,
        estimate=look.estimate - margin,
        ci_low=look.ci_low - margin,
        ci_high=look.ci_high - margin,
        eq_low=look.eq_low - margin,
        eq_high=look.eq_high - margin,
        decision=decision,
    )


def _recorded_without_a_score(status: np.ndarray, ref_status: np.ndarray, seeds: tuple[int, ...]) -> Why:
    """A run of the method or of the reference recorded without a score."""

    def why(i: int, j: int) -> str | None:
        ended = [(who, s) for who, s in (("its", status[i, j]), ("the reference's", ref_status[i])) if s != "ok"]
        ended = [(who, s) for who, s in ended if s != "missing"]
        return "; ".join(f"{who} run on seed {seeds[i]} {s}" for who, s in ended) or None

    return why


def _without_a_baseline_score(now: np.ndarray, then: np.ndarray, seeds: tuple[int, ...]) -> Why:
    """The night's run failed (or has no score), or the baseline has none."""

    def why(i: int, j: int) -> str | None:
        if now[i, j] not in ("ok", "missing"):
            return f"its run on seed {seeds[i]} {now[i, j]}"
        if then[i, j] != "ok":
            return f"the baseline has no score on seed {seeds[i]} ({then[i, j]})"
        return None

    return why

"""The decisions of a sequential study, from its recorded rows alone: ``decide(spec, rows) -> StudyDecisions``.

Each method is compared with the reference on paired seeds 0, 1, 2, ... in the rounds of ``evaluation.seeds``
(``{start, step, max}``), by ``pipeline.stats.sequential``. The same function tells the driver which seeds each
method needs next and writes ``decisions.json``: since it reads nothing but the rows, a resumed study makes
exactly the decisions an uninterrupted one makes.

Scores are the study's ``statistics.metric``; a diverged run is scored as a failure (the worst accuracy). A
comparison whose run failed (or diverged on a loss metric, which has no worst value) stops at the seed before it
and ends undecided, saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipeline.results.row import TrialRow
from pipeline.results.study_results import higher_is_better, metric_matrix
from pipeline.spec.study import SequentialSeeds, StudySpec
from pipeline.stats.sequential import (
    UNDECIDED,
    Look,
    Schedule,
    SequentialComparison,
    fixed_design_seeds,
    sequential_decisions,
)

PROCEDURE = (
    "repeated paired t intervals, α split by a union bound over the methods and the planned looks (Bonferroni), "
    "with two one-sided tests against ±δ for equivalence"
)
UNDECIDED_MEANING = (
    "undecided: after the seeds it was given, the interval still contains 0 and reaches beyond ±δ; neither a "
    "difference nor equivalence is shown"
)


@dataclass(frozen=True)
class MethodDecision:
    """One method against the reference. ``looks`` are the looks made so far (seeds ``seeds[:look.n]``).
    ``next_n`` is the seeds the next look needs (None: closed). ``stopped`` says why a comparison closed before
    its looks ran out (a run that failed). ``fixed_design``: for a comparison undecided at the end, the seeds a
    one-look design would need for the observed effect, to show a difference and to show equivalence."""

    method: str
    looks: tuple[Look, ...]
    next_n: int | None
    seeds_spent: int
    stopped: str | None = None
    fixed_design: tuple[int | None, int | None] | None = None

    @property
    def decision(self) -> str:
        return self.looks[-1].decision if self.looks else UNDECIDED

    @property
    def closed(self) -> bool:
        return self.next_n is None

    @property
    def decided_at(self) -> int | None:
        """The seeds at the look that decided it (None while undecided)."""
        return self.looks[-1].n if self.looks and self.decision != UNDECIDED else None


@dataclass(frozen=True)
class StudyDecisions:
    reference: str
    metric: str
    alpha: float
    margin: float
    looks: tuple[int, ...]  # the planned seeds at each look
    seeds: tuple[int, ...]  # the seed of each position: 0..max-1
    methods: tuple[MethodDecision, ...]  # the reference aside, in the spec's order
    reference_spent: int

    @property
    def finished(self) -> bool:
        return all(m.closed for m in self.methods)

    def needed(self, method: str) -> int:
        """How many seeds (the first n of ``seeds``) ``method`` must have run for its next look; for the reference,
        the most any open comparison needs."""
        if method == self.reference:
            return max((m.next_n for m in self.methods if m.next_n is not None), default=0)
        for m in self.methods:
            if m.method == method:
                return m.next_n or 0
        raise KeyError(method)

    def round_of(self, seed: int) -> int:
        """The round (0-based) in which ``seed`` is first run: the look whose seeds first include it."""
        position = self.seeds.index(seed)
        return next(k for k, n in enumerate(self.looks) if position < n)

    @property
    def fixed_trials(self) -> int:
        """Evaluation trials a fixed design of ``max`` seeds would run."""
        return (len(self.methods) + 1) * self.looks[-1]

    @property
    def spent_trials(self) -> int:
        return self.reference_spent + sum(m.seeds_spent for m in self.methods)

    def to_dict(self) -> dict[str, Any]:
        """``decisions.json``: per method and look, the seeds used, the estimate, the intervals and the decision."""
        return {
            "procedure": PROCEDURE,
            "reference": self.reference,
            "metric": self.metric,
            "alpha": self.alpha,
            "margin": self.margin,
            "looks": list(self.looks),
            "trials": {"spent": self.spent_trials, "fixed_design_max": self.fixed_trials},
            "reference_seeds_spent": self.reference_spent,
            "methods": {m.method: _method_dict(m, self.seeds) for m in self.methods},
        }


def _method_dict(m: MethodDecision, seeds: tuple[int, ...]) -> dict[str, Any]:
    fixed = None
    if m.fixed_design is not None:
        fixed = {"difference": m.fixed_design[0], "equivalence": m.fixed_design[1]}
    return {
        "decision": m.decision,
        "decided_at_seeds": m.decided_at,
        "seeds_spent": m.seeds_spent,
        "closed": m.closed,
        "stopped": m.stopped,
        "fixed_design_seeds": fixed,
        "rounds": [{"round": k, "seeds": list(seeds[: look.n]), **asdict(look)} for k, look in enumerate(m.looks)],
    }


def decide(spec: StudySpec, rows: list[TrialRow]) -> StudyDecisions:
    """The decisions of a study with sequential seeds, from its trials-table rows."""
    rounds = spec.evaluation.seeds
    if not isinstance(rounds, SequentialSeeds):
        raise ValueError("decide() is for studies with sequential seeds ({start, step, max})")
    metric = spec.statistics.metric
    matrix = metric_matrix(spec, rows, metric, "failure")
    sign = 1.0 if higher_is_better(metric) else -1.0
    names = [m.name for m in spec.methods]
    ref = names.index(spec.reference)
    others = [j for j in range(len(names)) if j != ref]
    scores = matrix.scores * sign
    differences = scores[:, others] - scores[:, [ref]]
    why = _recorded_without_a_score(matrix.status[:, others], matrix.status[:, ref], matrix.seeds)
    differences, stops = cut_at_first_gap(differences, why)
    alpha, margin = spec.statistics.alpha, spec.evaluation.equivalence_margin
    schedule = Schedule(rounds.start, rounds.step, rounds.max)
    compared = sequential_decisions(differences, schedule, alpha=alpha, margin=margin, n_family=len(others))
    spent = (matrix.status != "missing").sum(axis=0)
    methods = tuple(
        _method_decision(names[j], c, int(spent[j]), stops[i], alpha, len(others), margin)
        for i, (j, c) in enumerate(zip(others, compared, strict=True))
    )
    return StudyDecisions(spec.reference, metric, alpha, margin, schedule.looks, matrix.seeds, methods, int(spent[ref]))


def cut_at_first_gap(
    differences: np.ndarray, why: Callable[[int, int], str | None]
) -> tuple[np.ndarray, list[str | None]]:
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


def _recorded_without_a_score(status: np.ndarray, ref_status: np.ndarray, seeds: tuple[int, ...]):
    """``why`` for ``cut_at_first_gap``: a run of the method or of the reference recorded without a score."""

    def why(i: int, j: int) -> str | None:
        ended = [(who, s) for who, s in (("its", status[i, j]), ("the reference's", ref_status[i])) if s != "ok"]
        ended = [(who, s) for who, s in ended if s != "missing"]
        return "; ".join(f"{who} run on seed {seeds[i]} {s}" for who, s in ended) or None

    return why


def _method_decision(
    method: str, c: SequentialComparison, spent: int, stop: str | None, alpha: float, n_family: int, margin: float
) -> MethodDecision:
    next_n = None if stop is not None else c.next_n
    fixed = None
    if next_n is None and c.decision == UNDECIDED and c.looks and c.looks[-1].std > 0:
        last = c.looks[-1]
        need = fixed_design_seeds(last.estimate, last.std, alpha=alpha, n_family=n_family, margin=margin)
        fixed = (need.difference, need.equivalence)
    return MethodDecision(method, c.looks, next_n, spent, stop, fixed)

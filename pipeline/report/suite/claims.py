"""The suite file's claims, judged from each task's decision of the pair, with the figures behind the verdict.

``better``: held (better on every task), held on some tasks (better on some, worse on none), mixed (better on
some, worse on others), not held (worse on some and better on none, or shown equivalent on every task), or
undecided (no task decides it: it cannot be told apart from noise with this budget).
``not_worse``: held (better or equivalent on every task), not held (worse on any), held on some tasks (better or
equivalent on some, undecided on the rest), or undecided.

Beside the verdict: P(method > against) averaged over the claim's tasks with a stratified bootstrap interval (raw
scores, higher is better), and the compute of one trained model with tuning counted (the whole search plus one
run) of each method, as a ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.report.stats_record import StudyAnalysis
from pipeline.report.suite.pairs import PairDecision, improvement_with_interval, pair_decision, pair_key
from pipeline.results.study_results import StudyResults, metric_sign
from pipeline.spec.suite import ClaimSpec, SuiteSpec

HELD, SOME, MIXED, NOT_HELD, UNDECIDED = "held", "held on some tasks", "mixed", "not held", "undecided"


@dataclass(frozen=True)
class ClaimResult:
    name: str
    source: str
    method: str
    against: str
    kind: str
    metric: str
    per_task: tuple[PairDecision, ...]
    verdict: str
    improvement: float | None  # P(method > against), averaged over the claim's tasks
    improvement_low: float | None
    improvement_high: float | None
    cost_ratio: tuple[tuple[str, float | None], ...]  # task -> cost per trained model, method / against


def verdict(kind: str, decisions: list[str]) -> str:
    """The claim's verdict from its per-task decisions (better, worse, equivalent, undecided)."""
    better, worse = decisions.count("better"), decisions.count("worse")
    equivalent = decisions.count("equivalent")
    if kind == "not_worse":
        if worse:
            return NOT_HELD
        if better + equivalent == len(decisions):
            return HELD
        return SOME if better + equivalent else UNDECIDED
    if better == len(decisions):
        return HELD
    if better:
        return MIXED if worse else SOME
    if worse or equivalent == len(decisions):
        return NOT_HELD
    return UNDECIDED


def judge_claims(
    suite: SuiteSpec, analyses: dict[str, StudyAnalysis], results: dict[str, StudyResults]
) -> tuple[ClaimResult, ...]:
    return tuple(_judge(suite, claim, analyses, results) for claim in suite.claims)


def _judge(
    suite: SuiteSpec, claim: ClaimSpec, analyses: dict[str, StudyAnalysis], results: dict[str, StudyResults]
) -> ClaimResult:
    tasks = suite.claim_tasks(claim)
    metric = claim.metric or analyses[tasks[0]].statistics.metric
    per_task = tuple(pair_decision(t, analyses[t], claim.method, claim.against, results[t], metric) for t in tasks)
    x, y = _scores(claim, tasks, analyses, results, metric)
    poi = low = high = None
    if all(np.isfinite(x[:, k]).any() and np.isfinite(y[:, k]).any() for k in range(len(tasks))):
        poi, low, high = improvement_with_interval(
            x,
            y,
            seed=suite.aggregate.bootstrap_seed,
            reps=suite.aggregate.bootstrap_reps,
            level=analyses[tasks[0]].statistics.confidence_level,
            key=pair_key(claim.method, claim.against, metric, tasks),
        )
    return ClaimResult(
        name=claim.name,
        source=claim.source,
        method=claim.method,
        against=claim.against,
        kind=claim.kind,
        metric=metric,
        per_task=per_task,
        verdict=verdict(claim.kind, [d.decision for d in per_task]),
        improvement=poi,
        improvement_low=low,
        improvement_high=high,
        cost_ratio=tuple((t, _cost_ratio(analyses[t], claim.method, claim.against)) for t in tasks),
    )


def _scores(
    claim: ClaimSpec,
    tasks: tuple[str, ...],
    analyses: dict[str, StudyAnalysis],
    results: dict[str, StudyResults],
    metric: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The two methods' scores on ``metric``, ``(max seeds, n_tasks)`` each, NaN-padded, higher is better."""
    columns = []
    sign = metric_sign(metric)
    for t in tasks:
        matrix = results[t].metric_matrix(metric, analyses[t].statistics.diverged)
        columns.append([sign * matrix.scores[:, matrix.methods.index(m)] for m in (claim.method, claim.against)])
    rows = max(c[0].size for c in columns)
    x, y = np.full((rows, len(tasks)), np.nan), np.full((rows, len(tasks)), np.nan)
    for k, (a, b) in enumerate(columns):
        x[: a.size, k], y[: b.size, k] = a, b
    return x, y


def _cost_ratio(analysis: StudyAnalysis, method: str, against: str) -> float | None:
    """Wall time of one trained model with tuning counted (the method's whole search plus one run), over the other's."""
    costs = {c.method: c for c in analysis.costs}

    def per_model(name: str) -> float | None:
        c = costs.get(name)
        return None if c is None or c.mean_run_time_s is None else c.tuning_time_s + c.mean_run_time_s

    a, b = per_model(method), per_model(against)
    return a / b if a is not None and b else None

"""The decision of one pair of methods on one task, as the suite report counts it.

- A method against the study's reference, on the study's metric: the task's own decision. With sequential seeds
  that is the sequential decision (its error rates hold under the rounds); with a list of seeds it is the fixed
  design's corrected test (better or worse when significant, else undecided).
- Any other pair, or another metric: a paired t interval at the study's confidence level over the seeds both ran
  (better or worse when it excludes 0; equivalent when it lies inside ±δ). It is descriptive: not corrected for
  the other comparisons, and under a sequential study's optional stopping its level is nominal only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.report.metric_units import estimate_in_metric_units, in_metric_units
from pipeline.report.stats_record import StudyAnalysis
from pipeline.results.study_results import StudyResults, metric_sign
from pipeline.seeding import bootstrap_stream
from pipeline.stats import improvement_probability, paired_comparison, stratified_bootstrap_interval

SEQUENTIAL, FIXED, DESCRIPTIVE = "sequential", "fixed design", "paired t interval"


@dataclass(frozen=True)
class PairDecision:
    """``method`` against ``against`` on ``task``: the call, the estimate of method − against in the metric's
    units with its interval, the paired seeds behind it, and which rule made the call."""

    task: str
    method: str
    against: str
    metric: str
    decision: str  # better | worse | equivalent | undecided
    estimate: float | None
    low: float | None
    high: float | None
    n: int
    rule: str


def pair_decision(
    task: str,
    analysis: StudyAnalysis,
    method: str,
    against: str,
    results: StudyResults | None = None,
    metric: str | None = None,
) -> PairDecision:
    """The decision of ``method`` against ``against`` on ``task``, whose study analysis is ``analysis``
    (``results``, its rows, for another pair or another ``metric`` than the study's own)."""
    metric = metric or analysis.statistics.metric
    own = against == analysis.reference and metric == analysis.statistics.metric
    if own and analysis.decisions is not None:
        return _sequential(task, analysis, method)
    if own:
        return _fixed(task, analysis, method)
    if results is None:
        raise ValueError(f"{method} against {against} on {metric}: the task's results are needed")
    return _descriptive(task, analysis, results, method, against, metric)


def _sequential(task: str, analysis: StudyAnalysis, method: str) -> PairDecision:
    decisions = analysis.decisions
    assert decisions is not None
    m = next(d for d in decisions.methods if d.method == method)
    look = m.looks[-1] if m.looks else None
    low, high = in_metric_units(decisions, look.ci_low, look.ci_high) if look else (None, None)
    estimate = estimate_in_metric_units(decisions, look.estimate) if look else None
    n = look.n if look else 0
    return PairDecision(
        task, method, analysis.reference, decisions.metric, m.decision, estimate, low, high, n, SEQUENTIAL
    )


def _fixed(task: str, analysis: StudyAnalysis, method: str) -> PairDecision:
    v = analysis.versus(method)
    metric = analysis.statistics.metric
    if v is None or v.paired is None:
        return PairDecision(task, method, analysis.reference, metric, "undecided", None, None, None, 0, FIXED)
    p = v.paired
    better = metric_sign(metric) * p.mean_difference > 0
    decision = ("better" if better else "worse") if v.significant else "undecided"
    return PairDecision(
        task,
        method,
        analysis.reference,
        metric,
        decision,
        p.mean_difference,
        p.ci_low,
        p.ci_high,
        p.n,
        FIXED,
    )


def _descriptive(
    task: str, analysis: StudyAnalysis, results: StudyResults, method: str, against: str, metric: str
) -> PairDecision:
    matrix = results.metric_matrix(metric, analysis.statistics.diverged)
    x = matrix.scores[:, matrix.methods.index(method)]
    y = matrix.scores[:, matrix.methods.index(against)]
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < 2:
        return PairDecision(task, method, against, metric, "undecided", None, None, None, 0, DESCRIPTIVE)
    p = paired_comparison(x[both], y[both], confidence_level=analysis.statistics.confidence_level)
    sign = metric_sign(metric)
    low, high = sorted((sign * p.ci_low, sign * p.ci_high))  # oriented: above 0 is better
    margin = results.spec.evaluation.equivalence_margin
    if low > 0:
        decision = "better"
    elif high < 0:
        decision = "worse"
    elif margin > 0 and -margin < low and high < margin:
        decision = "equivalent"
    else:
        decision = "undecided"
    return PairDecision(
        task, method, against, metric, decision, p.mean_difference, p.ci_low, p.ci_high, p.n, DESCRIPTIVE
    )


def improvement_with_interval(
    x: np.ndarray, y: np.ndarray, *, seed: int, reps: int, level: float, key: str
) -> tuple[float, float, float]:
    """P(X > Y) over the tasks of ``x`` and ``y`` (each ``(n_seeds, n_tasks)``) with its stratified bootstrap
    interval. The bootstrap's stream depends on ``key`` (the pair, metric and tasks) alone, so the same comparison
    gets the same interval in the table across tasks and in a claim."""
    rng = bootstrap_stream(seed, f"improvement:{key}")
    low, high = stratified_bootstrap_interval(improvement_probability, [x, y], rng, reps=reps, confidence_level=level)
    return improvement_probability(x, y), low, high


def pair_key(method: str, against: str, metric: str, tasks: tuple[str, ...] | list[str]) -> str:
    return f"{method}>{against}:{metric}:{','.join(tasks)}"

"""A suite's statistics across its tasks, from each task's own ``StudyAnalysis``.

Scores are oriented so that higher is better, then normalised per task as the suite file says (raw, or so that
the baseline method's mean is 0 and the best method's mean is 1). Across tasks (methods that every task runs):
the interquartile mean with a stratified bootstrap interval, the probability of improving on the reference with
its interval, the Friedman test and Wilcoxon signed-rank tests with Holm over the tasks' means, win/tie/loss counts
from each task's own decision, and performance profiles. ``claims`` judges each claim of the suite file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.report.stats_record import StudyAnalysis
from pipeline.report.suite.pairs import PairDecision, improvement_with_interval, pair_decision, pair_key
from pipeline.seeding import bootstrap_stream
from pipeline.spec.suite import SuiteSpec
from pipeline.stats import (
    friedman_test,
    iqm,
    performance_profile,
    signed_rank_over_tasks,
    stratified_bootstrap_interval,
)
from pipeline.stats.ranks import average_ranks


@dataclass(frozen=True)
class MethodAggregate:
    """One method across the tasks: IQM of its (normalised) scores, P(method > reference), its mean rank over the
    tasks' means (1 = best), the signed-rank test against the reference, and its task-level decisions."""

    method: str
    iqm: float
    iqm_low: float
    iqm_high: float
    improvement: float | None  # P(method > reference), averaged over tasks; None for the reference
    improvement_low: float | None
    improvement_high: float | None
    mean_rank: float
    signed_rank_p: float | None
    signed_rank_p_holm: float | None
    wins: int
    ties: int
    losses: int


@dataclass(frozen=True)
class SuiteAnalysis:
    suite: str
    description: str
    suite_dir: str
    metric: str
    higher_is_better: bool
    normalisation: str
    baseline: str
    reference: str
    confidence_level: float
    tasks: tuple[str, ...]
    methods: tuple[str, ...]  # the methods every task runs, in the suite's order
    task_means: list[list[float]]  # (n_tasks, n_methods), normalised, higher is better
    aggregates: tuple[MethodAggregate, ...]
    friedman_statistic: float | None
    friedman_p: float | None
    decisions: tuple[PairDecision, ...]  # every method against the reference, per task
    profile_taus: tuple[float, ...]
    profile: list[list[float]]  # (n_taus, n_methods)
    seeds: dict[str, dict[str, int]]  # task -> method -> evaluation runs recorded
    trial_seconds: dict[str, float]  # task -> the summed wall time of its trials
    claims: tuple = ()  # ClaimResult, filled by pipeline.report.suite.claims
    published: tuple = ()  # PublishedRow: a paper's table beside the suite's runs
    verdict: str = ""
    problems: tuple[str, ...] = field(default_factory=tuple)

    def aggregate(self, method: str) -> MethodAggregate:
        return next(a for a in self.aggregates if a.method == method)


def oriented_scores(analysis: StudyAnalysis) -> np.ndarray:
    """A task's ``(n_seeds, n_methods)`` scores as its report scored them, NaN where none, higher is better."""
    scores = np.array([[math.nan if v is None else v for v in row] for row in analysis.scores], dtype=float)
    return scores if analysis.higher_is_better else -scores


def normalised(scores: np.ndarray, methods: tuple[str, ...], how: str, baseline: str) -> np.ndarray:
    """``scores`` of one task normalised: raw, or (x - baseline mean) / (best mean - baseline mean)."""
    if how == "raw":
        return scores
    means = np.nanmean(scores, axis=0)
    low, high = means[methods.index(baseline)], np.nanmax(means)
    if not high > low:
        raise ValueError(f"the baseline {baseline} is the best method on a task, so there is no range to scale by")
    return (scores - low) / (high - low)


def analyse_suite(suite: SuiteSpec, suite_dir: str, tasks: dict[str, StudyAnalysis]) -> SuiteAnalysis:
    """The statistics across ``tasks`` (task name -> its study analysis, every task of ``suite``)."""
    first = tasks[suite.task_names[0]]
    shared = tuple(m for m in suite.methods if all(m in tasks[t].methods for t in suite.task_names))
    problems: list[str] = []
    raw = {t: oriented_scores(tasks[t])[:, [tasks[t].methods.index(m) for m in shared]] for t in suite.task_names}
    how = suite.aggregate.normalisation
    try:
        per_task = {t: normalised(raw[t], shared, how, suite.aggregate.baseline) for t in suite.task_names}
    except ValueError as error:
        problems.append(f"{error}: every task's raw scores are used instead of {how}")
        per_task, how = raw, "raw"
    scores = _stack(per_task, suite.task_names)  # (n_seeds, n_tasks, n_methods)
    means = np.nanmean(scores, axis=0)  # (n_tasks, n_methods)
    decisions = tuple(
        pair_decision(t, tasks[t], m, suite.reference) for t in suite.task_names for m in shared if m != suite.reference
    )
    aggregates, friedman = _aggregates(
        suite, shared, scores, means, decisions, first.statistics.confidence_level, first.statistics.metric
    )
    taus = _taus(means)
    return SuiteAnalysis(
        suite=suite.name,
        description=suite.description,
        suite_dir=suite_dir,
        metric=first.statistics.metric,
        higher_is_better=first.higher_is_better,
        normalisation=how,
        baseline=suite.aggregate.baseline,
        reference=suite.reference,
        confidence_level=first.statistics.confidence_level,
        tasks=suite.task_names,
        methods=shared,
        task_means=means.tolist(),
        aggregates=aggregates,
        friedman_statistic=friedman[0],
        friedman_p=friedman[1],
        decisions=decisions,
        profile_taus=tuple(float(t) for t in taus),
        profile=performance_profile(means, taus).tolist(),
        seeds={t: {c.method: c.ok + c.diverged + c.failed for c in tasks[t].run_counts} for t in suite.task_names},
        trial_seconds={t: sum(c.total_time_s for c in tasks[t].costs) for t in suite.task_names},
        problems=tuple(problems),
    )


def _stack(per_task: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Each task's ``(n_seeds, n_methods)`` into one ``(max seeds, n_tasks, n_methods)`` array, NaN-padded."""
    rows = max(per_task[t].shape[0] for t in names)
    out = np.full((rows, len(names), per_task[names[0]].shape[1]), np.nan)
    for k, t in enumerate(names):
        out[: per_task[t].shape[0], k, :] = per_task[t]
    return out


def _aggregates(
    suite: SuiteSpec,
    methods: tuple[str, ...],
    scores: np.ndarray,
    means: np.ndarray,
    decisions: tuple[PairDecision, ...],
    level: float,
    metric: str,
) -> tuple[tuple[MethodAggregate, ...], tuple[float | None, float | None]]:
    ref = methods.index(suite.reference)
    seed, reps = suite.aggregate.bootstrap_seed, suite.aggregate.bootstrap_reps
    n_tasks = means.shape[0]
    p, p_holm = signed_rank_over_tasks(means, ref) if n_tasks >= 2 else (None, None)
    friedman = friedman_test(means) if n_tasks >= 2 and len(methods) >= 3 else None
    ranks = average_ranks(means)
    out = []
    for j, method in enumerate(methods):
        x, y = scores[:, :, j], scores[:, :, ref]
        # One stream per statistic and method: a method's interval does not depend on which others the suite runs.
        rng = bootstrap_stream(seed, f"iqm:{method}:{metric}:{','.join(suite.task_names)}")
        low, high = stratified_bootstrap_interval(iqm, [x], rng, reps=reps, confidence_level=level)
        poi = poi_low = poi_high = None
        if j != ref:
            key = pair_key(method, suite.reference, metric, suite.task_names)
            poi, poi_low, poi_high = improvement_with_interval(x, y, seed=seed, reps=reps, level=level, key=key)
        mine = [d.decision for d in decisions if d.method == method]
        out.append(
            MethodAggregate(
                method=method,
                iqm=iqm(x),
                iqm_low=low,
                iqm_high=high,
                improvement=poi,
                improvement_low=poi_low,
                improvement_high=poi_high,
                mean_rank=float(ranks[j]),
                signed_rank_p=None if p is None or j == ref else float(p[j]),
                signed_rank_p_holm=None if p_holm is None or j == ref else float(p_holm[j]),
                wins=mine.count("better"),
                ties=sum(d in ("equivalent", "undecided") for d in mine),
                losses=mine.count("worse"),
            )
        )
    stat = (friedman.statistic, friedman.p_value) if friedman is not None else (None, None)
    return tuple(out), stat


def _taus(means: np.ndarray) -> np.ndarray:
    """τ from 0 to the largest gap to the best mean on any task (at least a small positive range)."""
    gap = float(np.nanmax(means.max(axis=1, keepdims=True) - means))
    return np.linspace(0.0, max(gap, 1e-6) * 1.05, 41)

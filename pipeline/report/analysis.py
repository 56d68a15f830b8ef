"""Everything the report states, computed once from a study's results: ``analyse(results) -> StudyAnalysis``.

The markdown, the figures and ``stats.json`` all read this one object (its records are in ``stats_record``), so a
number can never differ between them. Problems that leave the central question unanswered (no reference runs, one
seed, every run diverged) are collected in ``problems`` rather than raised: the report still says everything else
it can. The verdict's words are ``verdict``'s.

A study with sequential seeds also carries its ``StudyDecisions`` (``decisions.py``): those are its claims, and
the fixed-design tests beside them are descriptive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from pipeline.decisions import MethodDecision, StudyDecisions, decide
from pipeline.optim import learns_rho
from pipeline.report.costs import method_costs, tuned_vs_lets
from pipeline.report.spread import spread_of
from pipeline.report.stats_record import (
    NOT_NEEDED,
    LetsTrajectory,
    MethodCost,
    Provenance,
    RunCounts,
    ShiftSummary,
    StudyAnalysis,
    TrialsRecorded,
    TunedVersusLets,
    TuningPoint,
    TuningSummary,
)
from pipeline.report.verdict import with_verdict
from pipeline.results.selection import objective, recorded_time_s
from pipeline.results.study_results import MetricMatrix, StudyResults, higher_is_better, number
from pipeline.spec.study import StatisticsSpec
from pipeline.stats.comparison import ComparisonSettings, compare_methods

# The records are stats_record's; they stay importable from here, where analyse returns them.
__all__ = [
    "NOT_NEEDED",
    "LetsTrajectory",
    "MethodCost",
    "Provenance",
    "RunCounts",
    "ShiftSummary",
    "StudyAnalysis",
    "TrialsRecorded",
    "TunedVersusLets",
    "TuningPoint",
    "TuningSummary",
    "analyse",
    "needed_status",
    "settings_of",
]


def settings_of(statistics: StatisticsSpec) -> ComparisonSettings:
    return ComparisonSettings(
        alpha=statistics.alpha,
        test=statistics.test,
        correction=statistics.correction,
        alternative=statistics.alternative,
        higher_is_better=higher_is_better(statistics.metric),
        confidence_level=statistics.confidence_level,
        power=statistics.power,
        bootstrap_resamples=statistics.bootstrap_resamples,
        bootstrap_seed=statistics.bootstrap_seed,
    )


def analyse(results: StudyResults, statistics: StatisticsSpec | None = None) -> StudyAnalysis:
    """``statistics`` overrides the spec's (``sam-study report --metric ...``)."""
    spec = results.spec
    statistics = statistics or spec.statistics
    matrix = results.metric_matrix(statistics.metric, statistics.diverged)
    problems: list[str] = []
    notes: list[str] = []
    # The study's own decisions, on its own metric and α: report options change only the descriptive tables.
    decisions = decide(spec, results.rows) if spec.evaluation.sequential else None
    status = needed_status(matrix, decisions)
    counts = tuple(_run_counts(matrix, status, j) for j in range(len(matrix.methods)))
    _check_runs(matrix, counts, spec.reference, statistics, problems, notes)

    comparison = None
    if len(matrix.methods) >= 2:
        comparison = compare_methods(matrix.scores, list(matrix.methods), spec.reference, settings_of(statistics))
    else:
        problems.append("the study has a single method: there is nothing to compare it with")
    if comparison is not None:
        untested = [v.method for v in comparison.versus_reference if v.paired is None]
        if untested and not any(spec.reference in p for p in problems):
            problems.append(
                f"{', '.join(untested)}: fewer than 2 seeds shared with the reference {spec.reference}, so not tested"
            )

    costs = method_costs(results, matrix)
    analysis = StudyAnalysis(
        study=spec.name,
        description=spec.description,
        study_dir=str(results.study_dir),
        statistics=statistics,
        higher_is_better=higher_is_better(statistics.metric),
        reference=spec.reference,
        seeds=matrix.seeds,
        methods=matrix.methods,
        scores=[[None if math.isnan(v) else float(v) for v in row] for row in matrix.scores],
        status=[list(row) for row in status],
        run_counts=counts,
        comparison=comparison,
        costs=costs,
        tuned_vs_lets=tuned_vs_lets(results, matrix, statistics, costs),
        tuning=_tuning(results),
        lets_trajectories=_trajectories(results),
        shift=_shift(results),
        verdict="",
        problems=tuple(problems),
        notes=tuple(notes),
        provenance=_provenance(results),
        decisions=decisions,
        spread=spread_of(results, statistics.metric, statistics.confidence_level),
    )
    return with_verdict(analysis)


def needed_status(matrix: MetricMatrix, decisions: StudyDecisions | None) -> np.ndarray:
    """``matrix.status`` with a sequential study's seeds that no comparison needed marked ``NOT_NEEDED``.

    A method needed the seeds of its last look, or of its next one while its comparison is open, and any it ran;
    the reference the most any comparison needed. A list of seeds needs every one, so its status is unchanged."""
    status = matrix.status.copy()
    if decisions is None:
        return status
    need = {m.method: _seeds_needed(m) for m in decisions.methods}
    need[decisions.reference] = max(need.values(), default=0)
    for j, method in enumerate(matrix.methods):
        ran = np.flatnonzero(status[:, j] != "missing")
        needed = max(need.get(method, 0), int(ran[-1]) + 1 if ran.size else 0)
        status[needed:, j] = NOT_NEEDED
    return status


def _seeds_needed(m: MethodDecision) -> int:
    """The seeds a comparison needs: its next look's while open, else its last look's."""
    if m.next_n is not None:
        return m.next_n
    return m.looks[-1].n if m.looks else 0


def _run_counts(matrix: MetricMatrix, status: np.ndarray, j: int) -> RunCounts:
    column = status[:, j]
    counts = {s: int((column == s).sum()) for s in ("ok", "diverged", "failed", "missing")}
    return RunCounts(matrix.methods[j], **counts, scored_as_failure=int(matrix.scored_as_failure[:, j].sum()))


def _check_runs(
    matrix: MetricMatrix,
    counts: tuple[RunCounts, ...],
    reference: str,
    statistics: StatisticsSpec,
    problems: list[str],
    notes: list[str],
) -> None:
    by_method = {c.method: c for c in counts}
    absent = [c.method for c in counts if c.planned and c.missing == c.planned]
    if absent:
        problems.append(
            f"no evaluation run of {', '.join(absent)} is in the trials table; run the study again to finish it"
        )
    if any(c.diverged for c in counts) and not any(c.ok for c in counts):
        problems.append("every evaluation run diverged: no method trained, so no comparison means anything")
    else:
        for c in counts:
            if c.diverged and c.diverged == c.planned:
                problems.append(f"every evaluation run of {c.method} diverged")
    ref = by_method[reference]
    if ref.method not in absent and ref.ok == 0 and ref.diverged < ref.planned:
        problems.append(f"the reference {reference} has no successful evaluation run to compare with")
    scored = np.isfinite(matrix.scores).sum(axis=0)
    if len(matrix.seeds) >= 1 and scored.max(initial=0) == 1:
        problems.append(
            "only one seed has a score: a paired comparison needs at least 2 seeds; add seeds to evaluation.seeds"
        )
    diverged = sum(c.diverged for c in counts)
    if diverged:
        if statistics.diverged == "failure" and higher_is_better(statistics.metric):
            notes.append(
                f"{diverged} diverged evaluation run(s) count as failures: they score {statistics.metric} = 0 in "
                "every comparison (statistics.diverged: failure)"
            )
        else:
            notes.append(
                f"{diverged} diverged evaluation run(s) are left out of the comparisons that need them "
                + (
                    "(statistics.diverged: exclude)"
                    if statistics.diverged == "exclude"
                    else f"({statistics.metric} has no worst value to score them at)"
                )
            )
    failed = sum(c.failed for c in counts)
    if failed:
        notes.append(f"{failed} evaluation run(s) failed (an error, not divergence) and are left out")


def _tuning(results: StudyResults) -> tuple[TuningSummary, ...]:
    out = []
    for method in results.spec.methods:
        selection = results.selections[method.name]
        rows = results.phase("tune", method.name)
        points = tuple(
            TuningPoint(
                rho=r.rho,
                objective=objective(r),  # the score the selection used: the same rule, not a copy
                status=r.status,
                params=r.params,
                selected=r.trial_key == selection.trial_key,
            )
            for r in sorted(rows, key=lambda r: (r.search or 0, r.trial_index or 0))
        )
        out.append(
            TuningSummary(
                method=method.name,
                source=selection.source,
                params=selection.params,
                val_accuracy=selection.val_accuracy,
                trials=selection.tuning_trials,
                failed=selection.tuning_failed,
                diverged=sum(1 for r in rows if r.status == "diverged"),
                time_s=selection.tuning_time_s,
                points=points,
            )
        )
    return tuple(out)


def _trajectories(results: StudyResults) -> tuple[LetsTrajectory, ...]:
    out = []
    for method in results.spec.methods:
        if not learns_rho(method.optimizer):
            continue
        for r in sorted(results.phase("eval", method.name), key=lambda r: r.seed):
            if r.rho_trajectory:
                out.append(LetsTrajectory(method.name, r.seed, r.rho_trajectory))
    return tuple(out)


def _shift(results: StudyResults) -> tuple[ShiftSummary, ...]:
    out = []
    for method in results.spec.methods:
        pairs = [
            (number(r.test_accuracy), number(r.shifted_test_accuracy))
            for r in results.phase("eval", method.name)
            if r.status == "ok"
        ]
        pairs = [(t, s) for t, s in pairs if not (math.isnan(t) or math.isnan(s))]
        if not pairs:
            continue
        test, shifted = np.array(pairs).T
        gap = test - shifted
        out.append(
            ShiftSummary(
                method.name,
                len(pairs),
                float(test.mean()),
                float(shifted.mean()),
                float(gap.mean()),
                float(gap.std(ddof=1)) if len(pairs) > 1 else None,
            )
        )
    return tuple(out)


def _provenance(results: StudyResults) -> Provenance:
    rows = results.rows
    spec = results.spec

    def distinct(values: Iterable[Any]) -> tuple[str, ...]:
        return tuple(sorted({str(v) for v in values if v is not None}))

    libraries = sorted({k for r in rows for k in r.versions})
    return Provenance(
        git_commits=distinct(r.git_commit for r in rows),
        versions={k: distinct(r.versions.get(k) for r in rows) for k in libraries},
        devices=distinct(r.device for r in rows),
        nodes=distinct(r.node for r in rows),
        data=spec.data,
        model=spec.model,
        training=spec.training,
        tuning=spec.tuning,
        seeds=tuple(spec.evaluation.seed_list),
        workers_per_trial=spec.workers_per_trial,
        trials=TrialsRecorded(
            tune=len(results.phase("tune")),
            eval=len(results.phase("eval")),
            compute_s=recorded_time_s(rows),
        ),
    )

"""Everything the report states, computed once from a study's results: ``analyse(results) -> StudyAnalysis``.

The markdown, the figures and ``stats.json`` all read this one object, so a number can never differ between
them. Problems that leave the central question unanswered (no reference runs, one seed, every run diverged)
are collected in ``problems`` rather than raised: the report still says everything else it can.

A study with sequential seeds also carries its ``StudyDecisions`` (``decisions.py``): those are its claims, and
the fixed-design tests beside them are descriptive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import BaseModel

from pipeline._io import finite_or_none
from pipeline.optim import inner_of, learns_rho
from pipeline.report.decisions import PROCEDURE, MethodDecision, StudyDecisions, decide
from pipeline.results.selection import objective, recorded_time_s
from pipeline.results.study_results import MetricMatrix, StudyResults, higher_is_better, number
from pipeline.spec.study import StatisticsSpec
from pipeline.stats.comparison import Comparison, ComparisonSettings, compare_methods
from pipeline.stats.corrections import holm
from pipeline.stats.paired import paired_comparison
from pipeline.stats.sequential import UNDECIDED

CORRECTION_NAMES = {"holm": "Holm's correction", "bh": "the Benjamini–Hochberg correction"}
TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}
NOT_NEEDED = "not needed"  # a run's status: a sequential study never needed that seed of that method


@dataclass(frozen=True)
class RunCounts:
    method: str
    ok: int
    diverged: int
    failed: int
    missing: int
    scored_as_failure: int

    @property
    def planned(self) -> int:
        """The runs the study needed of this method: every seed of a list; in a sequential study, those its
        comparisons needed."""
        return self.ok + self.diverged + self.failed + self.missing


@dataclass(frozen=True)
class MethodCost:
    """Compute of one method. ``passes_per_step`` is what its evaluation runs recorded (fractional for LETS: a
    validation pass every ``update_every`` steps) and ``passes_vs_reference`` that over the reference's: a property
    of the algorithm, the same on every rerun. Times are measured wall seconds of whole trials and move with the
    machine's load: ``time_vs_reference`` and ``time_vs_sgd`` are its mean evaluation run time over the
    reference's and SGD's; ``gain_vs_sgd`` its mean metric minus SGD's; ``gain_per_extra_sgd_run`` that gain per
    extra SGD-run of compute, ``gain_vs_sgd / (time_vs_sgd - 1)`` (None at or below SGD's cost)."""

    method: str
    optimizer: str
    passes_per_step: float | None
    seconds_per_epoch: float | None
    eval_runs: int
    eval_time_s: float
    mean_run_time_s: float | None
    tuning_trials: int
    tuning_time_s: float
    total_time_s: float
    time_vs_sgd: float | None
    gain_vs_sgd: float | None
    gain_per_extra_sgd_run: float | None
    passes_vs_reference: float | None = None
    time_vs_reference: float | None = None


@dataclass(frozen=True)
class TunedVersusLets:
    """A LETS method against the fixed-ρ method it wraps, whose ρ Optuna tuned. Per run: the paired difference
    ``lets - tuned`` (Holm-corrected across the LETS pairs). With tuning counted: the compute to obtain one
    trained model, the tuned method's whole search plus one run against one LETS run."""

    lets_method: str
    tuned_method: str
    n_pairs: int
    lets_mean: float | None
    tuned_mean: float | None
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    t_p_value: float | None
    wilcoxon_p_value: float | None
    t_p_holm: float | None
    lets_run_time_s: float | None
    tuned_run_time_s: float | None
    tuning_time_s: float
    tuning_trials: int
    lets_cost_per_model_s: float | None
    tuned_cost_per_model_s: float | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TuningPoint:
    rho: float | None
    objective: float | None  # validation accuracy; 0 for a diverged trial, None for a failed one
    status: str
    params: dict[str, Any]
    selected: bool


@dataclass(frozen=True)
class TuningSummary:
    method: str
    source: str  # fixed | tuned | fallback
    params: dict[str, Any]
    val_accuracy: float | None
    trials: int
    failed: int
    diverged: int
    time_s: float
    points: tuple[TuningPoint, ...]


@dataclass(frozen=True)
class LetsTrajectory:
    method: str
    seed: int
    rho: tuple[float, ...]  # the radius at the start and after every epoch


@dataclass(frozen=True)
class ShiftSummary:
    """Accuracy on the shifted test set and the gap ``test - shifted`` (how much the shift costs), over seeds."""

    method: str
    n: int
    test_mean: float
    shifted_mean: float
    gap_mean: float
    gap_std: float | None


@dataclass(frozen=True)
class StudyAnalysis:
    study: str
    description: str
    study_dir: str
    statistics: StatisticsSpec
    higher_is_better: bool
    reference: str
    seeds: tuple[int, ...]
    methods: tuple[str, ...]
    scores: list[list[float | None]]  # (n_seeds, n_methods), as scored for the comparisons
    status: list[list[str]]
    run_counts: tuple[RunCounts, ...]
    comparison: Comparison | None
    costs: tuple[MethodCost, ...]
    tuned_vs_lets: tuple[TunedVersusLets, ...]
    tuning: tuple[TuningSummary, ...]
    lets_trajectories: tuple[LetsTrajectory, ...]
    shift: tuple[ShiftSummary, ...]
    verdict: str
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    provenance: dict[str, Any] = field(default_factory=dict)
    decisions: StudyDecisions | None = None  # a study with sequential seeds: what it decided, and when

    def to_dict(self) -> dict[str, Any]:
        out = _lists(asdict(replace(self, decisions=None)))
        del out["decisions"]  # a list of seeds has no such section, as before sequential studies existed
        if self.decisions is not None:
            out["decisions"] = self.decisions.to_dict()  # the content of decisions.json, in the same units
        return finite_or_none(out)

    def versus(self, method: str):
        if self.comparison is None:
            return None
        return next((v for v in self.comparison.versus_reference if v.method == method), None)

    def summary(self, method: str):
        if self.comparison is None:
            return None
        return next(s for s in self.comparison.summaries if s.method == method)


def _lists(value: Any) -> Any:
    """asdict keeps tuples; JSON (and finite_or_none) want lists."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


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

    costs = _costs(results, matrix)
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
        tuned_vs_lets=_tuned_vs_lets(results, matrix, statistics, costs),
        tuning=_tuning(results),
        lets_trajectories=_trajectories(results),
        shift=_shift(results),
        verdict="",
        problems=tuple(problems),
        notes=tuple(notes),
        provenance=_provenance(results),
        decisions=decisions,
    )
    return _with_verdict(analysis)


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


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else None


def _ratio(x: float | None, y: float | None) -> float | None:
    return x / y if x and y else None  # a side _mean left at None (no runs) or at 0 has no ratio


def _costs(results: StudyResults, matrix: MetricMatrix) -> tuple[MethodCost, ...]:
    spec = results.spec
    sgd = next((m.name for m in spec.methods if m.optimizer == "sgd"), None)
    means = {m: _mean(list(matrix.scores[:, j])) for j, m in enumerate(matrix.methods)}

    def run_times(method: str) -> list[float]:
        return [number(r.wall_time_s) for r in results.phase("eval", method)]

    def passes(method: str) -> float | None:
        return _mean([number(r.passes_per_step) for r in results.phase("eval", method) if r.status == "ok"])

    sgd_time = _mean(run_times(sgd)) if sgd else None
    ref_time, ref_passes = _mean(run_times(spec.reference)), passes(spec.reference)
    costs = []
    for method in spec.methods:
        runs = results.phase("eval", method.name)
        ok = [r for r in runs if r.status == "ok"]
        times = run_times(method.name)
        mean_time, method_passes = _mean(times), passes(method.name)
        selection = results.selections[method.name]
        ratio = _ratio(mean_time, sgd_time)
        gain = means[method.name] - means[sgd] if sgd and None not in (means[method.name], means[sgd]) else None
        per_extra = gain / (ratio - 1.0) if gain is not None and ratio is not None and ratio > 1.0 + 1e-9 else None
        eval_time = float(np.nansum(times)) if times else 0.0
        costs.append(
            MethodCost(
                method=method.name,
                optimizer=method.optimizer,
                passes_per_step=method_passes,
                seconds_per_epoch=_mean([number(r.seconds_per_epoch) for r in ok]),
                eval_runs=len(runs),
                eval_time_s=eval_time,
                mean_run_time_s=mean_time,
                tuning_trials=selection.tuning_trials,
                tuning_time_s=selection.tuning_time_s,
                total_time_s=eval_time + selection.tuning_time_s,
                time_vs_sgd=ratio,
                gain_vs_sgd=gain,
                gain_per_extra_sgd_run=per_extra,
                passes_vs_reference=_ratio(method_passes, ref_passes),
                time_vs_reference=_ratio(mean_time, ref_time),
            )
        )
    return tuple(costs)


def _tuned_vs_lets(
    results: StudyResults, matrix: MetricMatrix, statistics: StatisticsSpec, costs: tuple[MethodCost, ...]
) -> tuple[TunedVersusLets, ...]:
    """Pair every LETS method (optimizer ``lets-X``) with the study's tuned method of optimizer ``X``."""
    spec = results.spec
    cost = {c.method: c for c in costs}
    pairs = []
    for lets in spec.methods:
        inner = inner_of(lets.optimizer)
        if inner is None:
            continue
        tuned = next((m for m in spec.methods if m.optimizer == inner and m.tuned), None)
        if tuned is not None:
            pairs.append((lets.name, tuned.name))
    raw = []
    for lets, tuned in pairs:
        x = matrix.scores[:, matrix.methods.index(lets)]
        y = matrix.scores[:, matrix.methods.index(tuned)]
        both = np.isfinite(x) & np.isfinite(y)
        c_l, c_t = cost[lets], cost[tuned]
        common = dict(
            lets_method=lets,
            tuned_method=tuned,
            n_pairs=int(both.sum()),
            lets_mean=_mean(list(x)),
            tuned_mean=_mean(list(y)),
            lets_run_time_s=c_l.mean_run_time_s,
            tuned_run_time_s=c_t.mean_run_time_s,
            tuning_time_s=c_t.tuning_time_s,
            tuning_trials=c_t.tuning_trials,
            lets_cost_per_model_s=c_l.mean_run_time_s,
            tuned_cost_per_model_s=(
                c_t.tuning_time_s + c_t.mean_run_time_s if c_t.mean_run_time_s is not None else None
            ),
        )
        p = None
        if both.sum() >= 2:
            p = paired_comparison(x[both], y[both], confidence_level=statistics.confidence_level)
        raw.append((common, p))
    tested = [p for _, p in raw if p is not None]
    adjusted = iter(holm([p.t_p_value for p in tested]) if tested else [])
    out = []
    for common, p in raw:
        out.append(
            TunedVersusLets(
                **common,
                mean_difference=p.mean_difference if p else None,
                ci_low=p.ci_low if p else None,
                ci_high=p.ci_high if p else None,
                t_p_value=p.t_p_value if p else None,
                wilcoxon_p_value=p.wilcoxon_p_value if p else None,
                t_p_holm=float(next(adjusted)) if p else None,
                notes=p.notes if p else ("fewer than 2 seeds with a score for both: not tested",),
            )
        )
    return tuple(out)


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


def _or_none(x: float) -> float | None:
    return None if math.isnan(x) else x


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


def _provenance(results: StudyResults) -> dict[str, Any]:
    rows = results.rows
    spec = results.spec

    def distinct(values: Iterable[Any]) -> list[str]:
        return sorted({str(v) for v in values if v is not None})

    libraries = sorted({k for r in rows for k in r.versions})
    return {
        "git_commits": distinct(r.git_commit for r in rows),
        "versions": {k: distinct(r.versions.get(k) for r in rows) for k in libraries},
        "devices": distinct(r.device for r in rows),
        "nodes": distinct(r.node for r in rows),
        "data": spec.data.model_dump(mode="json"),
        "model": spec.model.model_dump(mode="json"),
        "training": spec.training.model_dump(mode="json"),
        "tuning": spec.tuning.model_dump(mode="json"),
        "seeds": list(spec.evaluation.seed_list),
        "workers_per_trial": spec.workers_per_trial,
        "trials": {
            "tune": len(results.phase("tune")),
            "eval": len(results.phase("eval")),
            "compute_s": recorded_time_s(rows),
        },
    }


# ------------------------------------------------------------------------------------------------ the verdict


def _fmt_diff(x: float) -> str:
    return f"{x:+.4f}"


def _with_verdict(a: StudyAnalysis) -> StudyAnalysis:
    return replace(a, verdict=verdict_text(a))


def seeds_label(tested: list) -> str:
    """The paired seeds behind a set of comparisons: ``5``, or ``3–5`` when missing runs make them differ."""
    n_pairs = sorted({v.n_pairs for v in tested})
    return f"{n_pairs[0]}" if len(n_pairs) == 1 else f"{n_pairs[0]}–{n_pairs[-1]}"


def _names(items: list) -> str:
    names = [v.method for v in items]
    if len(names) == 1:
        return f"{names[0]} is"
    return f"{', '.join(names[:-1])} and {names[-1]} are"


def verdict_text(a: StudyAnalysis) -> str:
    """One paragraph in plain words: which methods beat the reference after correction, by how much, at what
    compute; which are worse; and what the design could not show."""
    ref_summary = a.summary(a.reference) if a.comparison else None
    reason = _no_verdict(a, ref_summary)
    if reason is not None:
        return reason
    if a.decisions is not None:
        return sequential_verdict(a)
    tested = [v for v in a.comparison.versus_reference if v.paired is not None]
    better = [v for v in tested if v.outcome == "better"]
    worse = [v for v in tested if v.outcome == "worse"]
    text = _opening(a, tested, ref_summary.mean) + _decisions(a, better, worse)
    if not better:
        text += _largest_improvement(a, tested)
    return text + _cautions(a)


def _no_verdict(a: StudyAnalysis, ref_summary) -> str | None:
    """Why no method can be compared with the reference, followed by the problems; None when they can be."""
    ref = a.reference
    if not any(r.ok for r in a.run_counts):
        return "No verdict: no evaluation run trained successfully. " + " ".join(a.problems)
    if a.comparison is None or ref_summary is None or ref_summary.n == 0:
        return (
            f"No verdict: {ref}, the reference, has no scored evaluation run, so no method can be compared with it. "
            + " ".join(a.problems)
        ).strip()
    if not any(v.paired is not None for v in a.comparison.versus_reference):
        return f"No verdict: no method shares 2 or more scored seeds with the reference {ref}. " + " ".join(a.problems)
    return None


def _opening(a: StudyAnalysis, tested: list, ref_mean: float) -> str:
    """What was compared, how, and against which reference mean; the decisions follow the colon."""
    s = a.statistics
    seeds = seeds_label(tested)
    sides = "two-sided" if s.alternative == "two-sided" else "one-sided"
    return (
        f"On {a.study}, comparing {s.metric} over {seeds} paired seeds with the {sides} {TEST_NAMES[s.test]} and "
        f"{CORRECTION_NAMES[s.correction]} across {len(tested)} comparison(s) at α = {s.alpha:g}, "
        f"against the reference {a.reference} (mean {ref_mean:.4f}): "
    )


def _decisions(a: StudyAnalysis, better: list, worse: list) -> str:
    """The methods significantly better than the reference (or that none is), then those significantly worse."""
    ref = a.reference
    sentences = [
        f"{_names(better)} significantly better than {ref}"
        if better
        else f"no method is significantly better than {ref}"
    ]
    if better:
        sentences[0] += ": " + "; ".join(_effect(a, v) for v in better)
    if worse:
        sentences.append(f"{_names(worse)} significantly worse: " + "; ".join(_effect(a, v) for v in worse))
    return ". ".join(x[0].upper() + x[1:] if i else x for i, x in enumerate(sentences)) + "."


def _largest_improvement(a: StudyAnalysis, tested: list) -> str:
    """When nothing is significantly better: the best observed improvement, if any, and the seeds it would need."""
    s = a.statistics
    best = max(tested, key=lambda v: v.paired.mean_difference * (1 if a.higher_is_better else -1))
    improved = (best.paired.mean_difference > 0) == a.higher_is_better and best.paired.mean_difference != 0
    if not improved:
        return ""
    return (
        f" The largest observed improvement, {_effect(a, best)}, cannot be told apart from seed-to-seed noise"
        + (
            f"; {best.seeds_needed} paired seeds would detect an effect of its size with power {s.power:g}"
            if best.seeds_needed
            else ""
        )
        + "."
    )


def _cautions(a: StudyAnalysis) -> str:
    """What limits the reading: the deciding test's design warning, and diverged runs scored as failures."""
    text = ""
    # Only the deciding test's limits change what the verdict could have said; the rest are in the tables.
    limit = "Wilcoxon" if a.statistics.test == "wilcoxon" else "t-test"
    impossible = [w for w in a.comparison.warnings if limit in w]
    if impossible:
        text += " Caution: " + impossible[0] + "."
    scored_as_failure = sum(r.scored_as_failure for r in a.run_counts)
    if scored_as_failure:
        text += f" {scored_as_failure} diverged run(s) are counted as failures (score 0)."
    return text


def _effect(a: StudyAnalysis, v) -> str:
    """One comparison's effect: mean difference, its interval, the adjusted p-value and the compute it took."""
    p = v.paired
    level = round(100 * a.statistics.confidence_level)
    return (
        f"{v.method} ({_fmt_diff(p.mean_difference)}, {level}% CI [{p.ci_low:+.4f}, {p.ci_high:+.4f}], "
        f"adjusted p = {v.p_adjusted:.3g}; {_at_compute(a, v.method)})"
    )


def _at_compute(a: StudyAnalysis, method: str) -> str:
    """A method's cost beside the reference's. Passes per step lead: they are what the algorithm costs, the same
    on every rerun, so the sentence rests on them. The time ratio follows, labelled as measured, since the same
    runs on a busier machine give another one."""
    c = next(x for x in a.costs if x.method == method)
    parts = []
    if c.passes_per_step:
        parts.append(_passes_phrase(c.passes_per_step, c.passes_vs_reference, a.reference))
    if c.time_vs_reference:
        parts.append(f"{c.time_vs_reference:.2f}× {a.reference}'s training time as measured on this study's hardware")
    return "; ".join(parts)


def _passes_phrase(passes: float, vs_reference: float | None, reference: str) -> str:
    """``2 passes per step, as many as sam``, ``6 passes per step, 3× sam's``, ``1 pass per step, 0.5× sam's``."""
    text = f"{passes:.4g} pass{'' if passes == 1 else 'es'} per step"
    if vs_reference is None:
        return text
    if math.isclose(vs_reference, 1.0, rel_tol=1e-9):
        return f"{text}, as many as {reference}"
    return f"{text}, {vs_reference:.3g}× {reference}'s"


# ---------------------------------------------------------------------------- the verdict of a sequential study


def in_metric_units(decisions: StudyDecisions, low: float, high: float) -> tuple[float, float]:
    """An interval of ``decisions`` as method − reference in the metric's units: the decisions are made on
    differences where higher is better, so a loss's are negated (and the ends swap)."""
    return (low, high) if higher_is_better(decisions.metric) else (-high, -low)


def estimate_in_metric_units(decisions: StudyDecisions, estimate: float) -> float:
    return estimate if higher_is_better(decisions.metric) else -estimate


def planned_seeds(decisions: StudyDecisions) -> str:
    """``5 to 30 paired seeds``, or ``5 paired seeds`` when there is one look."""
    first, last = decisions.looks[0], decisions.looks[-1]
    return f"{first} paired seeds" if first == last else f"{first} to {last} paired seeds"


def sequential_verdict(a: StudyAnalysis) -> str:
    """The decisions in plain words: the procedure, then each method's call and when it was made; what the rounds
    saved; the diverged runs scored as failures."""
    d = a.decisions
    text = (
        f"On {a.study}, each method was compared with the reference {d.reference} on {d.metric} sequentially, "
        f"at {planned_seeds(d)}, by {PROCEDURE} (family-wise α = {d.alpha:g}, δ = {d.margin:g}). "
    )
    if not any(m.looks for m in d.methods):
        return text + f"No comparison has reached its first look of {d.looks[0]} paired seeds yet." + _open_note(d)
    text += "Decisions: " + "; ".join(_decided_phrases(d) + _undecided_phrases(d)) + "."
    text += _open_note(d) if not d.finished else _savings(d)
    diverged = sum(c.diverged for c in a.run_counts)
    if diverged and higher_is_better(d.metric):
        text += f" {diverged} diverged run(s) are counted as failures (score 0)."
    return text


def _decided_phrases(d: StudyDecisions) -> list[str]:
    """``fsam better (+0.0120 after 10 seeds)``, the better first, then the worse, then the equivalent."""
    order = ("better", "worse", "equivalent")
    decided = sorted((m for m in d.methods if m.decision in order), key=lambda m: order.index(m.decision))
    return [
        f"{m.method} {m.decision} ({_fmt_diff(estimate_in_metric_units(d, m.looks[-1].estimate))} after "
        f"{m.decided_at} seeds)"
        for m in decided
    ]


def _undecided_phrases(d: StudyDecisions) -> list[str]:
    """The undecided: those the looks ran out on (together), those a failed run stopped, those still open."""
    undecided = [m for m in d.methods if m.decision == UNDECIDED]
    ended = [m for m in undecided if m.closed and m.stopped is None]
    phrases = []
    if ended:
        still = "holds 0 and reaches beyond ±δ" if d.margin > 0 else "holds 0"
        phrases.append(
            f"{', '.join(m.method for m in ended)} undecided after {d.looks[-1]} seeds (the interval still {still})"
        )
    for m in undecided:
        if m.stopped is not None:
            seeds = f"after {m.looks[-1].n} seeds" if m.looks else "before its first look"
            phrases.append(f"{m.method} undecided, stopped {seeds} ({m.stopped})")
        elif not m.closed:
            seeds = f"{m.looks[-1].n}" if m.looks else "no"
            phrases.append(f"{m.method} undecided so far ({seeds} of up to {d.looks[-1]} seeds)")
    return phrases


def _savings(d: StudyDecisions) -> str:
    saved = 1.0 - d.spent_trials / d.fixed_trials
    return (
        f" It ran {d.spent_trials} of the {d.fixed_trials} evaluation trials that {d.looks[-1]} seeds for every "
        f"method would have run ({saved:.0%} fewer)."
    )


def _open_note(d: StudyDecisions) -> str:
    still = sum(not m.closed for m in d.methods)
    return f" The study is not finished: {still} comparison(s) need more seeds." if still else ""

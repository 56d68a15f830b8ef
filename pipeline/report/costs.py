"""What each method's results cost: its compute beside the reference's and SGD's, and a LETS method against the
Optuna-tuned method it wraps, per run and with the tuning counted."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from pipeline.optim import inner_of
from pipeline.report.stats_record import MethodCost, TunedVersusLets
from pipeline.results.study_results import MetricMatrix, StudyResults, number
from pipeline.spec.study import StatisticsSpec
from pipeline.stats.corrections import holm
from pipeline.stats.paired import paired_comparison


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else None


def _ratio(x: float | None, y: float | None) -> float | None:
    return x / y if x and y else None  # a side _mean left at None (no runs) or at 0 has no ratio


def method_costs(results: StudyResults, matrix: MetricMatrix) -> tuple[MethodCost, ...]:
    """Per method of the spec, in its order: passes per step, measured times and their ratios, gain over SGD."""
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


def tuned_vs_lets(
    results: StudyResults, matrix: MetricMatrix, statistics: StatisticsSpec, costs: tuple[MethodCost, ...]
) -> tuple[TunedVersusLets, ...]:
    """Pair every LETS method (optimizer ``lets-X``) with the study's tuned method of optimizer ``X``; the pairs'
    t-test p-values are Holm-corrected together."""
    cost = {c.method: c for c in costs}
    rows = [_lets_pair(matrix, statistics, cost[lets], cost[tuned]) for lets, tuned in _lets_pairs(results)]
    tested = [r.n_pairs >= 2 for r in rows]
    adjusted = iter(holm([r.t_p_value for r, t in zip(rows, tested, strict=True) if t]) if any(tested) else [])
    return tuple(replace(r, t_p_holm=float(next(adjusted))) if t else r for r, t in zip(rows, tested, strict=True))


def _lets_pairs(results: StudyResults) -> list[tuple[str, str]]:
    """``(LETS method, tuned method)`` for every LETS method whose inner optimizer the study tunes."""
    spec = results.spec
    pairs = []
    for lets in spec.methods:
        inner = inner_of(lets.optimizer)
        if inner is None:
            continue
        tuned = next((m for m in spec.methods if m.optimizer == inner and m.tuned), None)
        if tuned is not None:
            pairs.append((lets.name, tuned.name))
    return pairs


def _lets_pair(matrix: MetricMatrix, statistics: StatisticsSpec, c_l: MethodCost, c_t: MethodCost) -> TunedVersusLets:
    """One pair, its Holm-corrected p-value left to ``tuned_vs_lets``; under 2 shared seeds, not tested."""
    x = matrix.scores[:, matrix.methods.index(c_l.method)]
    y = matrix.scores[:, matrix.methods.index(c_t.method)]
    both = np.isfinite(x) & np.isfinite(y)
    p = paired_comparison(x[both], y[both], confidence_level=statistics.confidence_level) if both.sum() >= 2 else None
    return TunedVersusLets(
        lets_method=c_l.method,
        tuned_method=c_t.method,
        n_pairs=int(both.sum()),
        lets_mean=_mean(list(x)),
        tuned_mean=_mean(list(y)),
        mean_difference=p.mean_difference if p else None,
        ci_low=p.ci_low if p else None,
        ci_high=p.ci_high if p else None,
        t_p_value=p.t_p_value if p else None,
        wilcoxon_p_value=p.wilcoxon_p_value if p else None,
        t_p_holm=None,
        lets_run_time_s=c_l.mean_run_time_s,
        tuned_run_time_s=c_t.mean_run_time_s,
        tuning_time_s=c_t.tuning_time_s,
        tuning_trials=c_t.tuning_trials,
        lets_cost_per_model_s=c_l.mean_run_time_s,
        tuned_cost_per_model_s=(c_t.tuning_time_s + c_t.mean_run_time_s if c_t.mean_run_time_s is not None else None),
        notes=p.notes if p else ("fewer than 2 seeds with a score for both: not tested",),
    )

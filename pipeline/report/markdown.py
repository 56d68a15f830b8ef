"""``report.md``: the verdict, then the tables, then the figures, then the method. Reads only a StudyAnalysis.

A study with sequential seeds gets a Decisions section after the verdict: its claims, from ``StudyAnalysis.decisions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.decisions import PROCEDURE, UNDECIDED_MEANING, MethodDecision, StudyDecisions
from pipeline.formatting import cell, p_value, significant
from pipeline.report.figures import FigureFile, SkippedFigure
from pipeline.report.method_section import method_section
from pipeline.report.metric_units import estimate_in_metric_units, in_metric_units
from pipeline.report.spread import spread_lines
from pipeline.report.stats_record import StudyAnalysis
from pipeline.report.verdict import CORRECTION_NAMES, TEST_NAMES
from pipeline.results.folder import FIGURES_DIR


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def render(a: StudyAnalysis, figures: list[FigureFile], skipped: list[SkippedFigure]) -> str:
    out = [f"# Study report: {a.study}", ""]
    if a.description:
        out += [f"_{a.description}_", ""]
    out += ["## Verdict", "", a.verdict, ""]
    if a.problems:
        out += ["**This report is incomplete:**", ""] + [f"- {p}" for p in a.problems] + [""]
    if a.decisions is not None:
        out += _decisions(a.decisions)
    out += _results(a)
    out += _figures(figures, skipped)
    out += method_section(a)
    return "\n".join(out).rstrip() + "\n"


def _decisions(d: StudyDecisions) -> list[str]:
    """The sequential decisions: how they were made, one row per method, and the trials the rounds saved."""
    looks = ", ".join(str(n) for n in d.looks)
    meaning = UNDECIDED_MEANING[0].upper() + UNDECIDED_MEANING[1:]
    out = [
        "## Decisions",
        "",
        f"Each method was compared with {d.reference} on {d.metric}, on paired seeds in rounds planned in advance "
        f"(looks at {looks} seeds), by {PROCEDURE}: family-wise α = {d.alpha:g}, δ = {d.margin:g}"
        + (" (equivalence is never called)" if d.margin == 0 else "")
        + f". A comparison stops at the first look that decides it, and a decision is final. {meaning}.",
        "",
    ]
    out += _table(
        [
            "method",
            "decision",
            "seeds spent",
            "decided at (seeds)",
            f"estimate ({d.metric.replace('_', ' ')}, method − {d.reference})",
            "interval at the last look",
            "seeds a fixed design would need (difference / equivalence)",
            "why stopped",
        ],
        [_decision_row(d, m) for m in d.methods],
        right=(2, 3, 4, 5),
    )
    saved = 1.0 - d.spent_trials / d.fixed_trials
    out += [
        f"Evaluation trials: {d.spent_trials} spent ({d.reference}, the reference: {d.reference_spent} seeds), "
        f"against {d.fixed_trials} for a fixed design of {d.looks[-1]} seeds for every method: {saved:.0%} saved."
        + ("" if d.finished else " The study is not finished: some comparisons still need more seeds."),
        "",
    ]
    return out


def _decision_row(d: StudyDecisions, m: MethodDecision) -> list[str]:
    """One comparison: its call, its seeds, and its last look in the metric's units (method − reference)."""
    look = m.looks[-1] if m.looks else None
    estimate, interval = "–", "–"
    if look is not None:
        low, high = in_metric_units(d, look.ci_low, look.ci_high)
        estimate = cell(estimate_in_metric_units(d, look.estimate), signed=True)
        interval = f"[{cell(low, signed=True)}, {cell(high, signed=True)}]"
    fixed = "–"
    if m.fixed_design is not None:
        fixed = " / ".join(cell(n) for n in m.fixed_design)
    decision = m.decision if m.closed else f"{m.decision} (open: next look at {m.next_n})"
    return [
        m.method,
        f"**{decision}**" if m.decided_at is not None else decision,
        str(m.seeds_spent),
        cell(m.decided_at),
        estimate,
        interval,
        fixed,
        m.stopped or "–",
    ]


def _results(a: StudyAnalysis) -> list[str]:
    s = a.statistics
    level = round(100 * s.confidence_level)
    metric = s.metric.replace("_", " ")
    direction = "higher" if a.higher_is_better else "lower"
    out = ["## Results", "", f"### {metric} per method ({direction} is better)", ""]
    ranks = {}
    if a.comparison is not None and a.comparison.ranks.average_ranks:
        ranks = dict(zip(a.comparison.ranks.methods, a.comparison.ranks.average_ranks, strict=True))
    rows = []
    for count in a.run_counts:
        summary = a.summary(count.method)
        ci = summary.ci if summary else None
        mean_std = "–"
        if summary and summary.mean is not None:
            mean_std = cell(summary.mean) + (f" ± {cell(summary.std)}" if summary.std is not None else "")
        label = f"**{count.method}** (reference)" if count.method == a.reference else count.method
        rows.append(
            [
                label,
                f"{count.ok}/{count.diverged}/{count.failed}/{count.missing}",
                mean_std,
                f"[{cell(ci.low)}, {cell(ci.high)}]" if ci else "–",
                cell(ranks.get(count.method), 2),
            ]
        )
    out += _table(
        [
            "method",
            "runs ok/diverged/failed/missing",
            "mean ± std",
            f"{level}% t-interval of the mean",
            "average rank",
        ],
        rows,
        right=(2, 3, 4),
    )
    out += _versus_reference(a, level)
    out += spread_lines(a.spread, level)
    out += _ranks(a)
    out += _costs(a)
    out += _lets(a, level)
    out += _tuning(a)
    out += _shift(a)
    return out


def _versus_reference(a: StudyAnalysis, level: int) -> list[str]:
    s = a.statistics
    if a.comparison is None:
        return []
    out = [f"### Against the reference, {a.reference}", "", _versus_reading(a, level), ""]
    if a.decisions is not None:
        out += [
            "These p-values do not account for the optional stopping (a comparison got more seeds while it was "
            "undecided), so they are descriptive; the decisions above are the study's claims.",
            "",
        ]
    out += _table(
        [
            "method",
            "seeds",
            "mean difference",
            f"{level}% CI",
            "t p",
            "Wilcoxon p",
            "t p adjusted",
            "Wilcoxon p adjusted",
            "d_z",
            "Hedges' g",
            "P(better)",
            "decision",
            f"seeds for power {s.power:g}",
        ],
        [_versus_row(v) for v in a.comparison.versus_reference],
        right=(*tuple(range(1, 11)), 12),
    )
    notes = [f"- {v.method}: {note}" for v in a.comparison.versus_reference for note in v.notes]
    if notes:
        out += [*notes, ""]
    if a.comparison.warnings:
        out += ["Design warnings:", ""] + [f"- {w}" for w in a.comparison.warnings] + [""]
    return out


def _versus_reading(a: StudyAnalysis, level: int) -> str:
    """How to read the table against the reference: what is differenced, which p-values, which decide."""
    s = a.statistics
    return (
        f"Differences are method − {a.reference} on the same seeds, with the {level}% t-interval. "
        f"p-values are {'two-sided' if s.alternative == 'two-sided' else 'one-sided (method better)'}; "
        f"“adjusted” is {CORRECTION_NAMES[s.correction]} across the {len(a.comparison.versus_reference)} methods, "
        f"and the decision uses the {TEST_NAMES[s.test]}'s at α = {s.alpha:g}. d_z = mean / std of the paired "
        f"differences; Hedges' g ignores the pairing; P(better) counts ties as half."
    )


def _versus_row(v) -> list[str]:
    """One method against the reference; dashes when it shares too few seeds to be tested."""
    p = v.paired
    if p is None:
        return [v.method, str(v.n_pairs)] + ["–"] * 9 + ["not tested", "–"]
    return [
        v.method,
        str(v.n_pairs),
        cell(p.mean_difference, signed=True),
        f"[{cell(p.ci_low, signed=True)}, {cell(p.ci_high, signed=True)}]",
        p_value(p.t_p_value),
        p_value(p.wilcoxon_p_value) + ("" if p.wilcoxon_method == "exact" else f" ({p.wilcoxon_method})"),
        p_value(v.t_p_adjusted),
        p_value(v.wilcoxon_p_adjusted),
        cell(v.d_z, 2, signed=True),
        cell(v.hedges_g, 2, signed=True),
        cell(v.p_better, 2),
        f"**{v.outcome}**" if v.significant else v.outcome,
        cell(v.seeds_needed) if v.seeds_needed is not None else "–",
    ]


def _ranks(a: StudyAnalysis) -> list[str]:
    if a.comparison is None:
        return []
    r = a.comparison.ranks
    out = ["### All methods at once", ""]
    if r.friedman is not None:
        out.append(
            f"Friedman test over {r.n_seeds} seed(s) and {r.friedman.n_methods} methods: χ² = "
            f"{r.friedman.statistic:.3f}, p = {p_value(r.friedman.p_value)}. "
            f"Nemenyi critical difference at α = {a.statistics.alpha:g}: {cell(r.critical_difference, 2)} "
            "(two methods whose average ranks differ by more than this differ significantly)."
        )
    elif r.average_ranks:
        out.append(f"Average ranks over {r.n_seeds} complete seed(s); no Friedman test.")
    out += [""] + [f"- {n}" for n in r.notes] + ([""] if r.notes else [])
    return out


def _costs(a: StudyAnalysis) -> list[str]:
    rows = [
        [
            c.method,
            cell(c.passes_per_step, 2),
            cell(c.seconds_per_epoch, 3),
            str(c.eval_runs),
            cell(c.eval_time_s, 1),
            cell(c.mean_run_time_s, 1),
            cell(c.time_vs_sgd, 2),
            str(c.tuning_trials),
            cell(c.tuning_time_s, 1),
            cell(c.total_time_s, 1),
            cell(c.gain_vs_sgd, signed=True),
            cell(c.gain_per_extra_sgd_run, signed=True),
        ]
        for c in a.costs
    ]
    out = ["### Compute cost", ""]
    out.append(
        "Measured wall seconds of whole trials on the study's own workers. “× SGD” is the mean evaluation run time "
        "over SGD's; the gain is the mean metric minus SGD's, and per extra SGD run it is that gain divided by "
        "(× SGD − 1)."
    )
    out.append("")
    out += _table(
        [
            "method",
            "passes / step",
            "s / epoch",
            "eval runs",
            "eval time (s)",
            "s / run",
            "× SGD",
            "tuning trials",
            "tuning time (s)",
            "total (s)",
            "gain vs SGD",
            "gain per extra SGD run",
        ],
        rows,
        right=tuple(range(1, 12)),
    )
    return out


def _lets(a: StudyAnalysis, level: int) -> list[str]:
    if not a.tuned_vs_lets:
        return []
    out = ["### Optuna-tuned ρ against LETS-learned ρ", ""]
    out.append(
        "Per run: the paired difference LETS − tuned on the same seeds (Holm-corrected across these pairs). "
        "With tuning counted: the compute to obtain one trained model, the tuned method's whole ρ search plus one "
        "run, against one LETS run (LETS needs no search)."
    )
    out.append("")
    rows = []
    for x in a.tuned_vs_lets:
        ratio = (
            x.tuned_cost_per_model_s / x.lets_cost_per_model_s
            if x.tuned_cost_per_model_s and x.lets_cost_per_model_s
            else None
        )
        rows.append(
            [
                x.lets_method,
                x.tuned_method,
                str(x.n_pairs),
                cell(x.lets_mean),
                cell(x.tuned_mean),
                cell(x.mean_difference, signed=True),
                f"[{cell(x.ci_low, signed=True)}, {cell(x.ci_high, signed=True)}]" if x.ci_low is not None else "–",
                p_value(x.t_p_holm),
                cell(x.lets_run_time_s, 1),
                cell(x.tuned_run_time_s, 1),
                f"{cell(x.tuned_cost_per_model_s, 1)} ({x.tuning_trials} trials + 1 run)",
                cell(ratio, 2),
            ]
        )
    out += _table(
        [
            "LETS",
            "tuned",
            "seeds",
            "LETS mean",
            "tuned mean",
            "difference",
            f"{level}% CI",
            "t p (Holm)",
            "LETS s / run",
            "tuned s / run",
            "tuned s / model",
            "tuned / LETS cost per model",
        ],
        rows,
        right=tuple(range(2, 12)),
    )
    return out


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {significant(v) if isinstance(v, float) else v}" for k, v in sorted(params.items()))


def _tuning(a: StudyAnalysis) -> list[str]:
    tuned = [t for t in a.tuning if t.source != "fixed"]
    if not tuned:
        return []
    out = ["### Tuning (selected on validation accuracy)", ""]
    rows = [
        [
            t.method,
            _params(t.params) or f"({t.source}: the study file's values)",
            cell(t.val_accuracy),
            str(t.trials),
            str(t.diverged),
            str(t.failed),
            cell(t.time_s, 1),
        ]
        for t in tuned
    ]
    out += _table(
        ["method", "selected", "validation accuracy", "trials", "diverged", "failed", "time (s)"],
        rows,
        right=(2, 3, 4, 5, 6),
    )
    return out


def _shift(a: StudyAnalysis) -> list[str]:
    if not a.shift:
        return []
    out = ["### Shifted test set", "", "Gap = test accuracy − shifted-test accuracy (what the shift costs).", ""]
    rows = [
        [x.method, str(x.n), cell(x.test_mean), cell(x.shifted_mean), cell(x.gap_mean, signed=True), cell(x.gap_std)]
        for x in a.shift
    ]
    out += _table(
        ["method", "runs", "test accuracy", "shifted-test accuracy", "gap", "gap std"], rows, right=(1, 2, 3, 4, 5)
    )
    return out


def _figures(figures: list[FigureFile], skipped: list[SkippedFigure]) -> list[str]:
    out = ["## Figures", ""]
    for fig in figures:
        out += [f"### {fig.title}", "", f"![{fig.title}]({FIGURES_DIR}/{fig.name})", "", fig.caption, ""]
    if skipped:
        out += ["Not drawn:", ""] + [f"- {s.name}: {s.reason}" for s in skipped] + [""]
    return out

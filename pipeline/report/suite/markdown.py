"""The suite report in words: the verdict, then the tables and figures behind it."""

from __future__ import annotations

from pipeline.formatting import MISSING, significant
from pipeline.report.figures.draw import FigureFile, SkippedFigure
from pipeline.report.suite.analysis import SuiteAnalysis
from pipeline.report.suite.claims import HELD, MIXED, NOT_HELD, SOME, UNDECIDED, ClaimResult
from pipeline.report.suite.pairs import DESCRIPTIVE, SEQUENTIAL


def _interval(low: float | None, high: float | None) -> str:
    return MISSING if low is None or high is None else f"[{significant(low, 3)}, {significant(high, 3)}]"


def suite_verdict(a: SuiteAnalysis) -> str:
    """The suite's answer in plain words: the aggregate ranking with its uncertainty, the task-level decisions,
    and each claim's standing."""
    best = max(a.aggregates, key=lambda g: g.iqm)
    ref = a.aggregate(a.reference)
    parts = [
        f"Across {len(a.tasks)} tasks ({a.metric.replace('_', ' ')}, {a.normalisation} scores), {best.method} has "
        f"the highest IQM, {best.iqm:.4g} {_interval(best.iqm_low, best.iqm_high)}, against {ref.iqm:.4g} "
        f"{_interval(ref.iqm_low, ref.iqm_high)} for the reference {a.reference}."
    ]
    above = [g.method for g in a.aggregates if g.improvement_low is not None and g.improvement_low > 0.5]
    below = [g.method for g in a.aggregates if g.improvement_high is not None and g.improvement_high < 0.5]
    parts.append(
        f"P(method > {a.reference}) is above 0.5 with {a.confidence_level:.0%} confidence for "
        f"{', '.join(above) or 'no method'}, and below it for {', '.join(below) or 'no method'}."
    )
    wins = [f"{g.method} {g.wins}/{g.ties}/{g.losses}" for g in a.aggregates if g.method != a.reference]
    parts.append(
        f"Per task against {a.reference} (better/tie/worse, a tie being equivalent or undecided): {'; '.join(wins)}."
    )
    parts.append(_rank_sentence(a))
    if a.claims:
        parts.append(_claims_sentence(a.claims))
    return " ".join(parts)


def _rank_sentence(a: SuiteAnalysis) -> str:
    floor = 2.0 / 2 ** len(a.tasks)
    text = (
        f"Over the tasks' means, the Friedman test gives p = {significant(a.friedman_p, 3)}"
        if a.friedman_p is not None
        else "The Friedman test needs at least 2 tasks and 3 methods"
    )
    return (
        f"{text}; with {len(a.tasks)} tasks the smallest two-sided signed-rank p-value any method can reach is "
        f"{floor:.3g}, so the rank tests over tasks {'cannot' if floor > 0.05 else 'can'} on their own show a "
        "difference at α = 0.05: the per-task decisions and the bootstrap intervals carry the evidence."
    )


def _claims_sentence(claims: tuple[ClaimResult, ...]) -> str:
    words = {
        HELD: "Claims held on every task",
        SOME: "Claims held on some tasks only",
        MIXED: "Claims held on some tasks and reversed on others",
        NOT_HELD: "Claims not held",
        UNDECIDED: "Claims that cannot be told apart from noise with this budget",
    }
    said = []
    for kind, phrase in words.items():
        names = [c.name for c in claims if c.verdict == kind]
        if names:
            said.append(f"{phrase}: {'; '.join(names)}.")
    return " ".join(said)


def render_suite(a: SuiteAnalysis, figures: list[FigureFile], skipped: list[SkippedFigure]) -> str:
    lines = [f"# Suite report: {a.suite}", ""]
    if a.description:
        lines += [a.description, ""]
    lines += ["## Verdict", "", a.verdict, ""]
    lines += _tasks_table(a) + _aggregate_table(a) + _decisions_table(a) + _claims_section(a) + _published(a)
    lines += ["## Figures", ""]
    for f in figures:
        lines += [f"### {f.title}", "", f"![{f.title}](figures/{f.name})", "", f.caption, ""]
    for s in skipped:
        lines += [f"- {s.name}: not drawn ({s.reason})"]
    lines += _method_notes(a)
    for problem in a.problems:
        lines += [f"- **Incomplete:** {problem}"]
    return "\n".join(lines).rstrip() + "\n"


def _tasks_table(a: SuiteAnalysis) -> list[str]:
    lines = ["## Tasks", "", "| task | report | evaluation runs | trial time (s) |", "|---|---|---:|---:|"]
    for t in a.tasks:
        runs = sum(a.seeds[t].values())
        lines.append(f"| {t} | [{t}/report.md]({t}/report.md) | {runs} | {a.trial_seconds[t]:.0f} |")
    return [*lines, ""]


def _aggregate_table(a: SuiteAnalysis) -> list[str]:
    level = f"{a.confidence_level:.0%}"
    lines = [
        "## Across tasks",
        "",
        f"Scores: {a.metric.replace('_', ' ')}, "
        + ("raw." if a.normalisation == "raw" else f"normalised per task ({a.baseline}'s mean 0, the best mean 1)."),
        "",
        f"| method | IQM | {level} interval | P(> {a.reference}) | {level} interval | mean rank | signed-rank p "
        f"(Holm) | better/tie/worse |",
        "|---|---:|---|---:|---|---:|---:|---|",
    ]
    for g in sorted(a.aggregates, key=lambda g: -g.iqm):
        lines.append(
            f"| {g.method} | {g.iqm:.4g} | {_interval(g.iqm_low, g.iqm_high)} | {significant(g.improvement, 3)} | "
            f"{_interval(g.improvement_low, g.improvement_high)} | {g.mean_rank:.2f} | "
            f"{significant(g.signed_rank_p_holm, 3)} | "
            + ("reference" if g.method == a.reference else f"{g.wins}/{g.ties}/{g.losses}")
            + " |"
        )
    return [*lines, ""]


def _decisions_table(a: SuiteAnalysis) -> list[str]:
    methods = [m for m in a.methods if m != a.reference]
    lines = [
        f"## Decisions per task, against {a.reference}",
        "",
        "| task | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for t in a.tasks:
        cells = []
        for m in methods:
            d = next(d for d in a.decisions if d.task == t and d.method == m)
            cells.append(
                f"{d.decision} ({significant(d.estimate, 3)}, {d.n})" if d.estimate is not None else d.decision
            )
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    rule = a.decisions[0].rule if a.decisions else SEQUENTIAL
    lines += [
        "",
        f"Each cell: the decision, the estimated difference method − {a.reference}, and the paired seeds "
        f"({rule} decisions of each task's own study).",
        "",
    ]
    return lines


def _claims_section(a: SuiteAnalysis) -> list[str]:
    if not a.claims:
        return []
    lines = [
        "## Claims",
        "",
        "| claim | source | verdict | per task | P(method > against) | cost per model with tuning, ratio |",
        "|---|---|---|---|---|---|",
    ]
    for c in a.claims:
        per_task = "; ".join(f"{d.task}: {d.decision} ({significant(d.estimate, 3)})" for d in c.per_task)
        poi = f"{significant(c.improvement, 3)} {_interval(c.improvement_low, c.improvement_high)}"
        cost = "; ".join(f"{t}: {significant(r, 3)}" for t, r in c.cost_ratio)
        lines.append(f"| {c.name} | {c.source or '–'} | **{c.verdict}** | {per_task} | {poi} | {cost} |")
    lines += [
        "",
        "A claim against the reference on the suite's metric uses each task's own decision; any other pair or "
        f"metric a {DESCRIPTIVE} at the study's confidence level over the seeds both ran (descriptive: not "
        "corrected for the other comparisons). The cost ratio is the wall time of one trained model with tuning "
        "counted (the method's whole search plus one run) over the other method's.",
        "",
    ]
    return lines


def _published(a: SuiteAnalysis) -> list[str]:
    if not a.published:
        return []
    level = f"{a.confidence_level:.0%}"
    lines = [
        "## Published figures beside ours",
        "",
        f"| source | task | method | published (mean ± std, runs) | ours, first seeds (mean ± std) | ours, every seed "
        f"(mean, {level} t interval) | published mean inside |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in a.published:
        first = "–" if r.first_mean is None else f"{r.first_mean:.4f} ± {r.first_std:.4f} ({r.first_runs})"
        every = "–" if r.mean is None else f"{r.mean:.4f} {_interval(r.low, r.high)} ({r.runs})"
        inside = "–" if r.inside is None else ("yes" if r.inside else "no")
        lines.append(
            f"| {r.source} | {r.task} | {r.method} | {r.published_mean:.4f} ± {r.published_std:.4f} "
            f"({r.published_runs}) | {first} | {every} | {inside} |"
        )
    lines += [
        "",
        "Standard deviations with ddof 0, as published; the t interval is of the mean over every seed run.",
        "",
    ]
    return lines


def _method_notes(a: SuiteAnalysis) -> list[str]:
    return [
        "",
        "## How to read this",
        "",
        "- IQM, the probability of improvement and their intervals follow Agarwal et al. (2021) and rliable: "
        "percentile intervals of a stratified bootstrap that resamples each method's runs within each task.",
        "- The rank tests over tasks follow Demšar (2006) and Benavoli et al. (2016): the Friedman test over all "
        "methods, then each method against the reference by the Wilcoxon signed-rank test over the tasks' means, "
        "with Holm's correction.",
        "- A tie in the better/tie/worse counts is a task whose own study decided *equivalent* or left the "
        "comparison *undecided*.",
        "",
    ]

"""The verdict of a study's report in plain words, from its ``StudyAnalysis``: which methods beat the reference
after correction, by how much and at what compute, or, for a study with sequential seeds, what it decided and when.
"""

from __future__ import annotations

import math
from dataclasses import replace

from pipeline.decisions import PROCEDURE, StudyDecisions
from pipeline.formatting import signed_fixed, significant
from pipeline.report.metric_units import estimate_in_metric_units
from pipeline.report.spread import lever_sentence
from pipeline.report.stats_record import StudyAnalysis
from pipeline.results.study_results import higher_is_better
from pipeline.stats.sequential import UNDECIDED

CORRECTION_NAMES = {"holm": "Holm's correction", "bh": "the Benjamini–Hochberg correction"}
TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}


def with_verdict(a: StudyAnalysis) -> StudyAnalysis:
    """``a`` with its verdict written."""
    return replace(a, verdict=verdict_text(a) + lever_sentence(a.spread))


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
        f"{v.method} ({signed_fixed(p.mean_difference)}, "
        f"{level}% CI [{signed_fixed(p.ci_low)}, {signed_fixed(p.ci_high)}], "
        f"adjusted p = {significant(v.p_adjusted, 3)}; {_at_compute(a, v.method)})"
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
    text = f"{significant(passes)} pass{'' if passes == 1 else 'es'} per step"
    if vs_reference is None:
        return text
    if math.isclose(vs_reference, 1.0, rel_tol=1e-9):
        return f"{text}, as many as {reference}"
    return f"{text}, {significant(vs_reference, 3)}× {reference}'s"


# ---------------------------------------------------------------------------- the verdict of a sequential study


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
        f"{m.method} {m.decision} ({signed_fixed(estimate_in_metric_units(d, m.looks[-1].estimate))} after "
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

"""Where each comparison's spread comes from: the per-example outcomes of its paired seeds (``outcomes/``), split
into the finite test set's part and the part between training runs (``pipeline.stats.variance_split``).

Only for test accuracy (the per-example outcome is a right or wrong prediction), for a method with at least 3 seeds
that ran to their end beside the reference's, each with its outcomes file; a study written before outcomes were
kept has none, and its report has no such section.
"""

from __future__ import annotations

import math

from pipeline.report.stats_record import SpreadSummary
from pipeline.results.errors import StudyFolderError
from pipeline.results.folder import StudyFolder
from pipeline.results.outcomes import correctness
from pipeline.results.study_results import StudyResults
from pipeline.stats.variance_split import VarianceSplit, split_variance

FACTOR = 4  # the projections: 4 times the seeds, or a 4 times larger test set
MIN_SEEDS = 3  # the split's jackknife needs 3


def spread_of(results: StudyResults, metric: str, confidence_level: float) -> tuple[SpreadSummary, ...]:
    """One summary per method compared with the reference whose outcomes allow it (module docstring)."""
    folder = StudyFolder(results.study_dir).outcomes
    if metric != "test_accuracy" or not folder.is_dir():
        return ()
    reference = results.spec.reference
    keys = {(r.method, r.seed): r.trial_key for r in results.rows if r.phase == "eval" and r.status == "ok"}
    out = []
    for method in (m.name for m in results.spec.methods if m.name != reference):
        seeds = sorted(s for m, s in keys if m == method and (reference, s) in keys)
        if len(seeds) < MIN_SEEDS:
            continue
        try:
            ours = correctness(folder, [keys[(method, s)] for s in seeds])
            theirs = correctness(folder, [keys[(reference, s)] for s in seeds])
        except StudyFolderError:  # a trial recorded without its file (written before outcomes were kept)
            continue
        if ours.shape == theirs.shape:
            out.append(summary(method, split_variance(ours, theirs, confidence_level=confidence_level)))
    return tuple(out)


def summary(method: str, split: VarianceSplit) -> SpreadSummary:
    low, high = split.share_interval
    return SpreadSummary(
        method=method,
        seeds=split.seeds,
        examples=split.examples,
        sd=math.sqrt(split.total),
        test_set_share=split.share,
        test_set_share_low=low,
        test_set_share_high=high,
        sd_test_set=math.sqrt(max(split.per_example, 0.0)),
        sd_between_runs=math.sqrt(max(split.between, 0.0)),
        factor=FACTOR,
        half_width=split.projected_half_width(),
        half_width_more_seeds=split.projected_half_width(seeds=FACTOR * split.seeds),
        half_width_larger_test_set=split.projected_half_width(test_factor=FACTOR),
        lever=split.lever(),
    )


LEVER_WORDS = {
    "test set": "mostly the finite test set: a larger test set narrows the interval for the cost of inference, "
    "where each more seed costs two training runs",
    "seeds": "mostly between training runs: only more seeds narrow the interval much, a larger test set little",
    "both": "both parts: more seeds and a larger test set would each narrow the interval",
}


def spread_lines(spread: tuple[SpreadSummary, ...], level: int) -> list[str]:
    """The report's section: a table of every comparison's split, and what would narrow each interval."""
    if not spread:
        return []
    k = spread[0].factor
    out = [
        "### Where the spread comes from",
        "",
        "The variance over seeds of each paired difference in test accuracy, split in two from the per-example "
        "outcomes: the finite test set's part (which examples each run happens to get right; it falls with a "
        "larger test set from the same distribution) and the part between training runs (whole models better or "
        f"worse; only more seeds average it out). Shares with their {level}% interval; half-widths of the mean "
        f"difference's {level}% t-interval now, with {k}× the seeds and with a {k}× larger test set.",
        "",
        "| method | seeds | test examples | sd of the difference | test-set share | sd: test set / runs "
        f"| half-width now | {k}× seeds | {k}× test set |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in spread:
        share = f"{_percent(x.test_set_share)} [{_percent(x.test_set_share_low)}, {_percent(x.test_set_share_high)}]"
        out.append(
            f"| {x.method} | {x.seeds} | {x.examples} | {_points(x.sd)} | {share} "
            f"| {_points(x.sd_test_set)} / {_points(x.sd_between_runs)} | {_points(x.half_width)} "
            f"| {_points(x.half_width_more_seeds)} | {_points(x.half_width_larger_test_set)} |"
        )
    out.append("")
    out += [f"- {', '.join(methods)}: {LEVER_WORDS[lever]}." for lever, methods in _by_lever(spread).items()]
    return [*out, ""]


def lever_sentence(spread: tuple[SpreadSummary, ...]) -> str:
    """The verdict's words on what the study needs to narrow its intervals, from its comparisons' splits."""
    if not spread:
        return ""
    needs = {"test set": "a larger test set", "seeds": "more seeds", "both": "both"}
    parts = [f"{needs[lever]} for {', '.join(methods)}" for lever, methods in _by_lever(spread).items()]
    return f" Where the spread comes from (per-example outcomes): {'; '.join(parts)}."


def _by_lever(spread: tuple[SpreadSummary, ...]) -> dict[str, list[str]]:
    """The compared methods by what would narrow their intervals, in the order test set, seeds, both."""
    grouped = {lever: [x.method for x in spread if x.lever == lever] for lever in LEVER_WORDS}
    return {lever: methods for lever, methods in grouped.items() if methods}


def _points(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.2f} pt"


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.0f}%"

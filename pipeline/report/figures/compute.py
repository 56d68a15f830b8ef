"""Figure 6, ``compute.png``: each method's mean score and interval against its measured run time."""

from __future__ import annotations

import math
from typing import NamedTuple

from pipeline.report.figures.axes import log_x
from pipeline.report.figures.label_placement import place_labels
from pipeline.report.figures.skip import NO_COMPARISON, Skip
from pipeline.report.figures.style import METHOD_COLOR, REFERENCE_COLOR, new_figure
from pipeline.report.figures.wording import better_word, ci_level, metric_label
from pipeline.report.stats_record import StudyAnalysis
from pipeline.stats.comparison import MethodSummary


class _Point(NamedTuple):
    method: str
    run_time_s: float  # mean measured wall seconds per evaluation run
    summary: MethodSummary  # its mean score and t-interval
    passes: float | None  # forward-backward passes per step


def compute_figure(analysis: StudyAnalysis):
    if analysis.comparison is None:
        raise Skip(NO_COMPARISON)
    points = _points(analysis)
    if not points:
        raise Skip("no method has both a measured evaluation run time and a scored run")
    fig = new_figure(8.5, 5.6)
    ax = fig.add_subplot()
    for point in points:
        _draw_point(ax, point, analysis.reference)
    times = [p.run_time_s for p in points]
    if min(times) > 0 and max(times) / min(times) > 10:
        log_x(ax, max(times) / min(times))
    ax.margins(x=0.12, y=0.1)
    ax.grid(alpha=0.3)
    ax.set_xlabel("mean training run time (s, measured wall time)")
    ax.set_ylabel(f"{metric_label(analysis)} ({better_word(analysis)})")
    ax.set_title(f"{metric_label(analysis).capitalize()} against compute")
    _label_points(fig, ax, points, analysis.reference)
    title = "Accuracy against compute" if analysis.higher_is_better else "Metric against compute"
    return fig, title, _caption(analysis, points)


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _points(analysis: StudyAnalysis) -> list[_Point]:
    """The methods, in study order, that have both a measured run time and a mean score."""
    summaries = {s.method: s for s in analysis.comparison.summaries}
    costs = {x.method: x for x in analysis.costs}
    points = []
    for method in analysis.methods:
        cost, s = costs.get(method), summaries.get(method)
        if cost is None or s is None or not _finite(cost.mean_run_time_s) or s.mean is None:
            continue
        points.append(_Point(method, cost.mean_run_time_s, s, cost.passes_per_step))
    return points


def _draw_point(ax, point: _Point, reference: str) -> None:
    """The mean score at the mean run time, its t-interval as a vertical error bar; the reference larger."""
    method, t, s, _ = point
    color = REFERENCE_COLOR if method == reference else METHOD_COLOR
    low = s.mean - s.ci.low if s.ci is not None else 0.0
    high = s.ci.high - s.mean if s.ci is not None else 0.0
    ax.errorbar(
        [t],
        [s.mean],
        yerr=[[low], [high]],
        fmt="o",
        ms=6 if method != reference else 8,
        color=color,
        ecolor=color,
        elinewidth=1.3,
        capsize=3,
        zorder=3,
    )


def _label_points(fig, ax, points: list[_Point], reference: str) -> None:
    """Each point's name and passes per step, placed clear of the others, and a key to the passes."""
    labels = []
    for method, _, _, passes in points:
        text = method if passes is None else f"{method} ({passes:g}×)"
        labels.append((text, method == reference))
    bars = [(t, s.ci.low, s.ci.high) for _, t, s, _ in points if s.ci is not None]
    place_labels(fig, ax, [(t, s.mean) for _, t, s, _ in points], labels, bars)
    if any(p.passes is not None for p in points):
        ax.text(
            0.99,
            0.01,
            "(n×): forward-backward passes per step",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.35",
        )


def _caption(analysis: StudyAnalysis, points: list[_Point]) -> str:
    caption = (
        f"Each point is one method: its mean {metric_label(analysis)} over seeds with the {ci_level(analysis)}% "
        "t-interval of the mean (vertical bar) against its mean run time, in measured wall seconds per "
        "training run of the evaluation phase (tuning not counted). The number after each name is its forward-"
        f"backward passes per step; the reference {analysis.reference} is highlighted."
    )
    dropped = [m for m in analysis.methods if m not in {p.method for p in points}]
    if dropped:
        caption += f" Not shown (no run time or no score): {', '.join(dropped)}."
    return caption

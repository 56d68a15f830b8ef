"""Figure 2, ``differences.png``: each method's paired difference from the reference, coloured by the decision."""

from __future__ import annotations

import math

from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from pipeline.report.figures.skip import NO_COMPARISON, Skip
from pipeline.report.figures.style import OUTCOME_COLORS, new_figure
from pipeline.report.figures.wording import adjusted_p_label, better_word, ci_level, metric_label
from pipeline.report.stats_record import StudyAnalysis
from pipeline.report.verdict import CORRECTION_NAMES, TEST_NAMES, seeds_label


def differences_figure(analysis: StudyAnalysis):
    c = analysis.comparison
    if c is None:
        raise Skip(NO_COMPARISON)
    tested = [v for v in c.versus_reference if v.paired is not None]
    if not tested:
        raise Skip(f"no method shares 2 or more scored seeds with the reference {analysis.reference}: nothing tested")
    order = {m: i for i, m in enumerate(analysis.methods)}
    tested.sort(key=lambda v: order.get(v.method, len(order)))
    has_inf = any(not (math.isfinite(v.paired.ci_low) and math.isfinite(v.paired.ci_high)) for v in tested)
    lo, hi = _x_limits(tested, has_inf)
    fig_h = 0.42 * len(tested) + 1.4
    fig = new_figure(8.0, fig_h)
    ax = fig.add_subplot()
    ax.axvline(0.0, color="black", lw=1, zorder=1)
    text_at = blended_transform_factory(ax.transAxes, ax.transData)
    for row, v in enumerate(tested):
        _draw_difference(ax, row, v, lo, hi, text_at)
    ax.set_xlim(lo, hi)
    _label_axes(fig, ax, analysis, tested, fig_h)
    return fig, f"Differences from {analysis.reference}", _caption(analysis, tested, has_inf)


def _x_limits(tested: list, has_inf: bool) -> tuple[float, float]:
    """Every finite mean and interval end, and 0, with a margin; a wider one for the arrow heads of infinite ends."""
    values = [0.0]
    for v in tested:
        values += [x for x in (v.paired.mean_difference, v.paired.ci_low, v.paired.ci_high) if math.isfinite(x)]
    lo, hi = min(values), max(values)
    span = hi - lo or max(abs(hi), 1e-3)
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    if has_inf:  # leave room for the arrow heads that mark an infinite end
        lo, hi = lo - 0.05 * span, hi + 0.05 * span
    return lo, hi


def _draw_difference(ax, row: int, v, lo: float, hi: float, text_at) -> None:
    """One method's mean difference and t-interval on ``row``, an infinite end clipped to the axis as an arrow head,
    and its adjusted p-value written right of the axes."""
    p = v.paired
    color = OUTCOME_COLORS.get(v.outcome, "0.45")
    low = p.ci_low if math.isfinite(p.ci_low) else lo
    high = p.ci_high if math.isfinite(p.ci_high) else hi
    ax.plot([low, high], [row, row], color=color, lw=2.2, solid_capstyle="butt", zorder=2)
    for end, finite, marker in ((low, math.isfinite(p.ci_low), "<"), (high, math.isfinite(p.ci_high), ">")):
        if finite:
            ax.plot([end, end], [row - 0.15, row + 0.15], color=color, lw=1.3, zorder=2)
        else:
            ax.plot([end], [row], marker=marker, color=color, ms=8, zorder=3, clip_on=False)
    ax.scatter([p.mean_difference], [row], s=40, color=color, edgecolors="black", linewidths=0.8, zorder=4)
    ax.annotate(
        adjusted_p_label(v.p_adjusted),
        (1, row),
        xycoords=text_at,
        xytext=(10, 0),
        textcoords="offset points",
        va="center",
        ha="left",
        fontsize=9,
    )


def _label_axes(fig, ax, analysis: StudyAnalysis, tested: list, fig_h: float) -> None:
    ax.set_yticks(range(len(tested)))
    ax.set_yticklabels([v.method for v in tested])
    ax.set_ylim(len(tested) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(f"difference in {metric_label(analysis)}, method − {analysis.reference} ({better_word(analysis)})")
    ax.set_title(f"Paired difference from the reference {analysis.reference}")
    outcomes = [o for o in OUTCOME_COLORS if any(v.outcome == o for v in tested)]
    handles = [Line2D([], [], color=OUTCOME_COLORS[o], lw=2.2, marker="o", mec="black", label=o) for o in outcomes]
    below_xlabel = -0.6 / (fig_h * (fig.subplotpars.top - fig.subplotpars.bottom))  # 0.6 inch under the axes
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, below_xlabel), frameon=False, ncol=len(handles))


def _caption(analysis: StudyAnalysis, tested: list, has_inf: bool) -> str:
    s = analysis.statistics
    seeds = seeds_label(tested)
    sided = "two-sided" if s.alternative == "two-sided" else "one-sided"
    caption = (
        f"Each row is one method's mean paired difference from {analysis.reference} (method − reference, over "
        f"{seeds} shared seed(s)) with its {sided} {ci_level(analysis)}% t-interval; left of the vertical line at 0 "
        f"the method scores lower. Colour gives the outcome of the {TEST_NAMES.get(s.test, s.test)} at α = {s.alpha:g} "
        f"after {CORRECTION_NAMES.get(s.correction, s.correction)}, whose adjusted p-value is written on the right."
    )
    if has_inf:
        caption += " An arrow head marks an interval end that is infinite (one-sided test), clipped to the axis."
    return caption

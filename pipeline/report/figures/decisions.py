"""``decisions.png`` (sequential studies only): each comparison's looks, its interval narrowing until it decides."""

from __future__ import annotations

from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from pipeline.decisions import MethodDecision, StudyDecisions
from pipeline.report.figures.axes import panel_grid
from pipeline.report.figures.skip import NotApplicable, Skip
from pipeline.report.figures.style import DECISION_COLORS
from pipeline.report.metric_units import estimate_in_metric_units, in_metric_units
from pipeline.report.stats_record import StudyAnalysis
from pipeline.results.study_results import higher_is_better

BAND_COLOR = "tab:blue"
LOOK_COLOR = "0.55"  # a look that did not decide
MAX_LABELLED_LOOKS = 8  # more planned looks than this: fewer tick labels, so they never overlap


def decisions_figure(analysis: StudyAnalysis):
    d = analysis.decisions
    if d is None:
        raise NotApplicable
    shown = [m for m in d.methods if m.looks]
    if not shown:
        raise Skip(f"no comparison has reached its first look of {d.looks[0]} paired seeds")
    fig, axes, cols = panel_grid(len(shown), 3.4, 2.6, sharey=False)
    clipped = False
    for i, (ax, m) in enumerate(zip(axes, shown, strict=True)):
        clipped |= _draw_panel(ax, d, m)
        if i % cols == 0:
            ax.set_ylabel(f"{d.metric.replace('_', ' ')}, method − {d.reference}", fontsize=9)
        if i >= len(shown) - cols:  # the bottom panel of each column
            ax.set_xlabel("paired seeds at the look", fontsize=9)
    fig.legend(handles=_legend(d), loc="outside lower center", ncol=4, frameon=False)
    return fig, "Sequential decisions", _caption(d, clipped, len(shown) < len(d.methods))


def _draw_panel(ax, d: StudyDecisions, m: MethodDecision) -> bool:
    """Every look of ``m``: its estimate and repeated interval, the equivalence interval thicker inside it; the
    deciding look large, in the decision's colour. Returns whether an interval end was clipped."""
    ax.axhline(0.0, color="black", lw=0.9, zorder=1)
    if d.margin > 0:
        ax.axhspan(-d.margin, d.margin, color=BAND_COLOR, alpha=0.12, lw=0, zorder=0)
    low_lim, high_lim = _y_limits(d, m)
    clipped = False
    for look in m.looks:
        deciding = look.n == m.decided_at
        color = DECISION_COLORS[m.decision] if deciding else LOOK_COLOR
        low, high = in_metric_units(d, look.ci_low, look.ci_high)
        clipped |= _interval(ax, look.n, (low, high), (low_lim, high_lim), color, 1.2)
        if d.margin > 0:
            eq = in_metric_units(d, look.eq_low, look.eq_high)
            clipped |= _interval(ax, look.n, eq, (low_lim, high_lim), color, 3.6)
        size = 52 if deciding else 22
        estimate = estimate_in_metric_units(d, look.estimate)
        ax.scatter([look.n], [estimate], s=size, color=color, edgecolors="black", linewidths=0.7, zorder=4)
    _frame(ax, d, low_lim, high_lim)
    n = m.decided_at or m.looks[-1].n
    ax.set_title(f"{m.method}: {m.decision} ({n} seeds)", color=DECISION_COLORS[m.decision], fontsize=10)
    return clipped


def _y_limits(d: StudyDecisions, m: MethodDecision) -> tuple[float, float]:
    """0, ±δ, every estimate and the last look's interval, with room for earlier intervals up to that span again
    on either side: an early look's interval can be ten times wider, and would flatten the later looks. Intervals
    are cut at these limits; the axis adds a margin."""
    last = in_metric_units(d, m.looks[-1].ci_low, m.looks[-1].ci_high)
    core = [0.0, -d.margin, d.margin, *last, *(estimate_in_metric_units(d, x.estimate) for x in m.looks)]
    ends = [e for x in m.looks for e in in_metric_units(d, x.ci_low, x.ci_high)]
    span = (max(core) - min(core)) or 1e-3
    return max(min(ends + core), min(core) - span), min(max(ends + core), max(core) + span)


def _interval(ax, x: float, ends: tuple[float, float], limits: tuple[float, float], color: str, lw: float) -> bool:
    """A vertical interval at ``x``; an end beyond the axis is cut there and marked by an arrow head."""
    low, high = max(ends[0], limits[0]), min(ends[1], limits[1])
    ax.plot([x, x], [low, high], color=color, lw=lw, solid_capstyle="butt", zorder=3 if lw > 2 else 2)
    cut = [(y, marker) for y, marker, beyond in ((low, "v", ends[0] < low), (high, "^", ends[1] > high)) if beyond]
    for y, marker in cut:
        ax.plot([x], [y], marker=marker, color=color, ms=6, zorder=3, clip_on=False)
    return bool(cut)


def _frame(ax, d: StudyDecisions, low: float, high: float) -> None:
    """Every planned look on the x axis, so an early decision shows how many looks it spared."""
    step = d.looks[1] - d.looks[0] if len(d.looks) > 1 else 1
    ax.set_xlim(d.looks[0] - 0.6 * step, d.looks[-1] + 0.6 * step)
    if len(d.looks) <= MAX_LABELLED_LOOKS:
        ax.set_xticks(d.looks)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    pad = 0.08 * (high - low)  # room for the arrow heads of cut intervals
    ax.set_ylim(low - pad, high + pad)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(labelsize=8.5)


def _legend(d: StudyDecisions) -> list:
    handles = [
        Line2D([], [], color=LOOK_COLOR, lw=1.2, marker="o", ms=5, mec="black", label="estimate, repeated interval"),
    ]
    if d.margin > 0:
        handles.append(Line2D([], [], color=LOOK_COLOR, lw=3.6, label="equivalence interval"))
        handles.append(Patch(color=BAND_COLOR, alpha=0.12, label=f"±δ = ±{d.margin:g}"))
    handles.append(
        Line2D(
            [], [], ls="", marker="o", ms=8, color="white", mec="black", label="deciding look, in its decision's colour"
        )
    )
    return handles


def _caption(d: StudyDecisions, clipped: bool, some_without_looks: bool) -> str:
    side = "above" if higher_is_better(d.metric) else "below"
    caption = (
        f"One panel per method compared with {d.reference}: at each look (x: the paired seeds it used) the mean "
        f"difference method − {d.reference} in {d.metric.replace('_', ' ')} (dot) and its repeated interval (thin "
        f"line). The method is better when that interval lies {side} 0 and worse when it lies on the other side"
    )
    if d.margin > 0:
        caption += (
            "; equivalent when the equivalence interval (thick line, two one-sided tests) lies inside the shaded "
            f"band ±δ = ±{d.margin:g}"
        )
    caption += (
        ". The look that decided is drawn large in the decision's colour (green better, red worse, blue "
        "equivalent); a decided comparison gets no further look, and an undecided one ends at the last planned "
        "look. Early intervals are wide because each look spends only a small share of α "
        "(a union bound over the methods and the looks)."
    )
    if clipped:
        caption += (
            " An arrow head marks an interval cut at the edge of its panel, so that the later looks stay readable."
        )
    if some_without_looks:
        caption += f" Methods without a look yet (fewer than {d.looks[0]} paired seeds) have no panel."
    return caption

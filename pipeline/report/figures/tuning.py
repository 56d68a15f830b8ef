"""Figure 4, ``tuning.png``: one panel per tuned method, validation accuracy against ρ, the selected trial circled.

Each panel's accuracy axis fits that method's own competitive trials: the selection chose among trials often a point
or two of accuracy apart, which a shared 0–1 axis (forced by diverged trials drawn at 0), or one stretched down to a
trial that barely learnt (ρ far too large), would flatten into one line. Trials far below the others sit on the
bottom edge with their accuracy written beside them.
"""

from __future__ import annotations

import statistics

from pipeline.report.figures.axes import log_x, panel_grid
from pipeline.report.figures.skip import Skip
from pipeline.report.figures.style import FAILURE_COLOR, METHOD_COLOR, REFERENCE_COLOR
from pipeline.report.stats_record import StudyAnalysis, TuningPoint, TuningSummary

DIVERGED_Y = 0.05  # fraction of the panel's height: where a diverged trial's × sits, in the band below the data
SELECTED = "selected"  # the selected trial's marker label, so a reader of the figure object can find it
FAR_BELOW = 3.0  # a trial is off the axis when it lies further below the median than 3x the best's lead over it


def tuning_figure(analysis: StudyAnalysis):
    tuned = [t for t in analysis.tuning if any(p.rho is not None for p in t.points)]
    if not tuned:
        raise Skip("no method has a tuning trial with a ρ (nothing was tuned)")
    fig, axes, cols = panel_grid(len(tuned), 3.5, 2.7, sharey=False)
    any_diverged = any_failed = any_far_below = False
    for n, (ax, t) in enumerate(zip(axes, tuned, strict=True)):
        diverged, far_below = _panel(ax, t, t.method == analysis.reference)
        any_diverged, any_far_below = any_diverged or diverged, any_far_below or far_below
        any_failed |= any(p.rho is not None and p.objective is None for p in t.points)
        if n % cols == 0:
            ax.set_ylabel("validation accuracy")
    fig.suptitle("Tuning: validation accuracy against ρ")
    caption = (
        "One panel per tuned method: every tuning trial's validation accuracy against its ρ"
        " (log scale where the ρ tried span more than a factor 10). Each panel's accuracy axis is fitted to its own "
        "trials, so compare panels by their tick labels, not by heights. The circled point is the trial selected for "
        "evaluation; its ρ and validation accuracy are written above the panel."
    )
    if any_far_below:
        caption += (
            " A ▼ on a panel's bottom edge is a trial far below the others (ρ too large to learn well), with its "
            "accuracy beside it."
        )
    if any_diverged:
        caption += " An × along a panel's bottom edge is a trial that diverged (it scored 0, off the axis)."
    if any_failed:
        caption += " Trials that failed (an error) are left out."
    return fig, "Tuning of ρ", caption


def _panel(ax, t: TuningSummary, is_reference: bool) -> tuple[bool, bool]:
    """Draw one method's trials; whether some diverged, and whether some lie far below the others."""
    pts = [p for p in t.points if p.rho is not None and p.objective is not None]
    trained = [p for p in pts if p.status != "diverged"]
    floor = _floor([p.objective for p in trained])
    ok = [p for p in trained if p.objective >= floor]
    low = [p for p in trained if p.objective < floor]
    div = [p for p in pts if p.status == "diverged"]
    color = REFERENCE_COLOR if is_reference else METHOD_COLOR
    ax.scatter([p.rho for p in ok], [p.objective for p in ok], s=22, color=color, alpha=0.8, zorder=3)
    _fit_y(ax, [p.objective for p in ok], below=bool(div or low))
    bottom = _bottom_row(ax)
    if div:
        ax.scatter([p.rho for p in div], [bottom] * len(div), marker="x", s=30, color=FAILURE_COLOR, zorder=3)
    if low:
        ax.scatter([p.rho for p in low], [bottom] * len(low), marker="v", s=30, color=color, alpha=0.8, zorder=3)
        for p in low:
            ax.annotate(f"{p.objective:.2f}", (p.rho, bottom), xytext=(4, 3), textcoords="offset points", fontsize=7)
    rhos = [p.rho for p in t.points if p.rho is not None and p.rho > 0]
    if rhos and max(rhos) / min(rhos) > 10:
        log_x(ax, max(rhos) / min(rhos))
    selected = next((p for p in pts if p.selected), None)
    if selected is not None:
        _mark_selected(ax, selected)
    ax.set_title(
        t.method,
        fontweight="bold" if is_reference else "normal",
        color=REFERENCE_COLOR if is_reference else "black",
        pad=16 if selected is not None else 6,  # room for the selected trial's line below the name
    )
    ax.set_xlabel("ρ")
    ax.grid(alpha=0.3)
    return bool(div), bool(low)


def _floor(values: list[float]) -> float:
    """The lowest accuracy the panel's axis shows: trials further below the median than ``FAR_BELOW`` times the
    best's lead over the median are outliers of the search, not candidates of the selection."""
    if len(values) < 3:
        return -float("inf")
    median = statistics.median(values)
    lead = max(max(values) - median, 0.002)  # a floor: trials that nearly tie keep every point on the axis
    return median - FAR_BELOW * lead


def _fit_y(ax, values: list[float], *, below: bool) -> None:
    """The accuracy axis spans the panel's trials plus a margin; with diverged trials, a wider bottom band holds
    their × row clear of the data. No trial that trained: the full 0–1 range."""
    if not values:
        ax.set_ylim(0.0, 1.0)
        return
    lo, hi = min(values), max(values)
    pad = max(0.1 * (hi - lo), 0.002)  # a floor, so trials that all tie still get an axis a few ticks wide
    ax.set_ylim(lo - (3 if below else 1) * pad, hi + 2 * pad)  # the top pad clears the selected trial's circle


def _bottom_row(ax) -> float:
    """The height, in data units, of the row of diverged trials along the panel's bottom edge."""
    lo, hi = ax.get_ylim()
    return lo + DIVERGED_Y * (hi - lo)


def _mark_selected(ax, p: TuningPoint) -> None:
    """Circle the selected trial and state its ρ and validation accuracy above the panel, where no trial can sit
    under the words."""
    diverged = p.status == "diverged"  # selected only when every trial diverged
    y = _bottom_row(ax) if diverged else p.objective
    ax.scatter([p.rho], [y], s=140, facecolors="none", edgecolors="black", linewidths=1.6, zorder=4, label=SELECTED)
    ax.text(
        0.5,
        1.02,
        f"selected: ρ = {p.rho:.3g}, " + ("diverged" if diverged else f"validation accuracy {p.objective:.4f}"),
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=8,
    )

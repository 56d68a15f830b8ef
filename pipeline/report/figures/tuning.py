"""Figure 4, ``tuning.png``: one panel per tuned method, validation accuracy against ρ, the selected trial circled."""

from __future__ import annotations

from pipeline.report.analysis import StudyAnalysis
from pipeline.report.figures.axes import log_x, panel_grid
from pipeline.report.figures.skip import Skip
from pipeline.report.figures.style import FAILURE_COLOR, METHOD_COLOR, REFERENCE_COLOR


def tuning_figure(analysis: StudyAnalysis):
    tuned = [t for t in analysis.tuning if any(p.rho is not None for p in t.points)]
    if not tuned:
        raise Skip("no method has a tuning trial with a ρ (nothing was tuned)")
    fig, axes, cols = panel_grid(len(tuned), 3.5, 2.7, sharey=True)
    any_diverged = any_failed = False
    for n, (ax, t) in enumerate(zip(axes, tuned, strict=True)):
        pts = [p for p in t.points if p.rho is not None and p.objective is not None]
        any_failed |= any(p.rho is not None and p.objective is None for p in t.points)
        ok = [p for p in pts if p.status != "diverged"]
        div = [p for p in pts if p.status == "diverged"]
        color = REFERENCE_COLOR if t.method == analysis.reference else METHOD_COLOR
        ax.scatter([p.rho for p in ok], [p.objective for p in ok], s=22, color=color, alpha=0.8, zorder=3)
        if div:
            any_diverged = True
            ax.scatter([p.rho for p in div], [0.0] * len(div), marker="x", s=30, color=FAILURE_COLOR, zorder=3)
        for p in pts:
            if p.selected:
                ax.scatter(
                    [p.rho], [p.objective], s=140, facecolors="none", edgecolors="black", linewidths=1.6, zorder=4
                )
        rhos = [p.rho for p in t.points if p.rho is not None and p.rho > 0]
        if rhos and max(rhos) / min(rhos) > 10:
            log_x(ax, max(rhos) / min(rhos))
        ax.set_title(
            t.method,
            fontweight="bold" if t.method == analysis.reference else "normal",
            color=REFERENCE_COLOR if t.method == analysis.reference else "black",
        )
        ax.set_xlabel("ρ")
        if n % cols == 0:
            ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle("Tuning: validation accuracy against ρ")
    caption = (
        "One panel per tuned method: every tuning trial's validation accuracy against its ρ"
        " (log scale where the ρ tried span more than a factor 10); the circled point is the trial selected for "
        "evaluation."
    )
    if any_diverged:
        caption += " An × is a trial that diverged, drawn at 0."
    if any_failed:
        caption += " Trials that failed (an error) are left out."
    return fig, "Tuning of ρ", caption

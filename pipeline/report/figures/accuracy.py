"""Figure 1, ``accuracy.png``: every seed's score per method, the mean and its t-interval."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from pipeline.report.figures.axes import method_rows
from pipeline.report.figures.skip import NO_COMPARISON, Skip
from pipeline.report.figures.style import FAILURE_COLOR, METHOD_COLOR, REFERENCE_COLOR, new_figure
from pipeline.report.figures.wording import better_word, ci_level, metric_label
from pipeline.report.stats_record import NOT_NEEDED, StudyAnalysis


def accuracy_figure(analysis: StudyAnalysis):
    if analysis.comparison is None:
        raise Skip(NO_COMPARISON)
    if not any(v is not None for row in analysis.scores for v in row):
        raise Skip(f"no evaluation run has a {analysis.statistics.metric} score")
    methods = list(analysis.methods)
    summaries = {s.method: s for s in analysis.comparison.summaries}
    fig = new_figure(8.0, 0.42 * len(methods) + 1.3)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    n_failures = 0
    for j, method in enumerate(methods):
        color = REFERENCE_COLOR if method == analysis.reference else METHOD_COLOR
        ok, failed = _scores_of(analysis, j)
        _draw_seeds(ax, j, ok, failed, color, rng)
        _draw_mean(ax, j, summaries.get(method), color)
        n_failures += len(failed)
    ref = summaries.get(analysis.reference)
    if ref is not None and ref.mean is not None:
        ax.axvline(ref.mean, color=REFERENCE_COLOR, lw=1, ls="--", alpha=0.8, zorder=1)
    _label_axes(ax, analysis, methods, n_failures)
    return fig, f"{metric_label(analysis).capitalize()} per method", _caption(analysis, n_failures)


def _scores_of(analysis: StudyAnalysis, j: int) -> tuple[list[float], list[float]]:
    """Method ``j``'s scored seeds: those that trained, and the diverged ones scored as failures."""
    ok, failed = [], []
    for i, row in enumerate(analysis.scores):
        v = row[j]
        if v is None:
            continue
        (failed if analysis.status[i][j] == "diverged" else ok).append(v)
    return ok, failed


def _draw_seeds(ax, j: int, ok: list[float], failed: list[float], color: str, rng: np.random.Generator) -> None:
    """One point per seed on row ``j``, jittered vertically so points do not hide each other; an × if diverged."""
    if ok:
        y = j + rng.uniform(-0.22, 0.22, len(ok))
        ax.scatter(ok, y, s=16, color=color, alpha=0.55, linewidths=0, zorder=2)
    if failed:
        y = j + rng.uniform(-0.22, 0.22, len(failed))
        ax.scatter(failed, y, s=30, marker="x", color=FAILURE_COLOR, linewidths=1.4, zorder=3)


def _draw_mean(ax, j: int, s, color: str) -> None:
    """The mean over seeds as a diamond on row ``j``, over its confidence interval as a capped black bar."""
    if s is None or s.mean is None:
        return
    if s.ci is not None:
        ax.plot([s.ci.low, s.ci.high], [j, j], color="black", lw=2.2, solid_capstyle="butt", zorder=4)
        ax.plot([s.ci.low] * 2, [j - 0.15, j + 0.15], color="black", lw=1.2, zorder=4)
        ax.plot([s.ci.high] * 2, [j - 0.15, j + 0.15], color="black", lw=1.2, zorder=4)
    ax.scatter([s.mean], [j], marker="D", s=34, color=color, edgecolors="black", linewidths=0.9, zorder=5)


def _label_axes(ax, analysis: StudyAnalysis, methods: list[str], n_failures: int) -> None:
    method_rows(ax, methods, analysis.reference)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(f"{metric_label(analysis)} ({better_word(analysis)})")
    up_to = "up to " if analysis.decisions is not None else ""  # sequential: each method ran the seeds it needed
    ax.set_title(f"{metric_label(analysis)} per method over {up_to}{len(analysis.seeds)} seed(s)")
    handles = [
        Line2D([], [], ls="", marker="o", color=METHOD_COLOR, alpha=0.55, label="one seed"),
        Line2D([], [], ls="-", marker="D", color="black", mfc="white", label=f"mean, {ci_level(analysis)}% CI"),
    ]
    if n_failures:
        handles.append(Line2D([], [], ls="", marker="x", color=FAILURE_COLOR, label="diverged (scored as failure)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _caption(analysis: StudyAnalysis, n_failures: int) -> str:
    # A sequential study's seeds that no comparison needed were never meant to run: not a gap in the data.
    n_unscored = sum(
        v is None and status != NOT_NEEDED
        for row, statuses in zip(analysis.scores, analysis.status, strict=True)
        for v, status in zip(row, statuses, strict=True)
    )
    caption = (
        f"Each small point is one seed's {metric_label(analysis)} (rows jittered vertically so points do not "
        f"hide each other); the diamond is the mean over seeds and the black bar its {ci_level(analysis)}% "
        "t-interval (none for a method with one seed). The dashed line marks the mean of the reference, "
        f"{analysis.reference} (highlighted)."
    )
    if n_failures:
        caption += f" An × is a diverged run scored as a failure ({n_failures} in all); it counts in the mean."
    if n_unscored:
        caption += f" {n_unscored} run(s) without a score (failed, missing or excluded) are not shown."
    return caption

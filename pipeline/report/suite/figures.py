"""The suite report's figures, from a ``SuiteAnalysis``: each drawn on its own, a failure costing no other.

- ``iqm.png``: each method's interquartile mean across tasks with its stratified bootstrap interval;
- ``improvement.png``: P(method > reference) averaged over tasks, with its interval, against 0.5;
- ``profiles.png``: performance profiles, the fraction of tasks on which a method's mean is within τ of the best;
- ``task_decisions.png``: each task's decision of each method against the reference, with its estimate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.patches import Patch, Rectangle

from pipeline.report.figures.draw import FigureFile, SkippedFigure, draw_each
from pipeline.report.figures.style import DECISION_COLORS, METHOD_COLOR, REFERENCE_COLOR, new_figure
from pipeline.report.suite.analysis import SuiteAnalysis


def draw_suite_figures(a: SuiteAnalysis, out_dir: Path) -> tuple[list[FigureFile], list[SkippedFigure]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    drawers = (
        ("iqm.png", _iqm),
        ("improvement.png", _improvement),
        ("profiles.png", _profiles),
        ("task_decisions.png", _task_decisions),
    )
    return draw_each(drawers, a, out_dir)


def _score_label(a: SuiteAnalysis) -> str:
    metric = a.metric.replace("_", " ")
    if a.normalisation == "raw":
        return metric if a.higher_is_better else f"−{metric}"
    return f"{metric}, normalised ({a.baseline} 0, best 1)"


def _color(a: SuiteAnalysis, method: str) -> str:
    return REFERENCE_COLOR if method == a.reference else METHOD_COLOR


def _iqm(a: SuiteAnalysis):
    order = sorted(a.aggregates, key=lambda g: g.iqm)
    fig = new_figure(6.4, 0.42 * len(order) + 1.2)
    ax = fig.add_subplot()
    for i, g in enumerate(order):
        ax.plot([g.iqm_low, g.iqm_high], [i, i], color=_color(a, g.method), lw=5, alpha=0.55, solid_capstyle="butt")
        ax.plot([g.iqm], [i], "o", color="black", ms=4)
    ax.set_yticks(range(len(order)), [g.method for g in order])
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlabel(f"IQM of {_score_label(a)}")
    ax.grid(axis="x", alpha=0.3)
    caption = (
        f"Interquartile mean (the 25% trimmed mean of every run of every task pooled, each task weighing the same) "
        f"of each method across the {len(a.tasks)} tasks, with its {a.confidence_level:.0%} stratified bootstrap "
        f"interval (each task's runs resampled within the task). The reference {a.reference} in orange."
    )
    return fig, "IQM across tasks", caption


def _improvement(a: SuiteAnalysis):
    shown = [g for g in a.aggregates if g.improvement is not None]
    if not shown:
        raise ValueError("no method besides the reference")
    order = sorted(shown, key=lambda g: g.improvement)
    fig = new_figure(6.4, 0.42 * len(order) + 1.2)
    ax = fig.add_subplot()
    ax.axvline(0.5, color="black", lw=0.9)
    for i, g in enumerate(order):
        color = "tab:green" if g.improvement_low > 0.5 else "tab:red" if g.improvement_high < 0.5 else "0.45"
        ax.plot([g.improvement_low, g.improvement_high], [i, i], color=color, lw=5, alpha=0.6, solid_capstyle="butt")
        ax.plot([g.improvement], [i], "o", color="black", ms=4)
    ax.set_yticks(range(len(order)), [g.method for g in order])
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"P(method > {a.reference}), averaged over tasks")
    ax.grid(axis="x", alpha=0.3)
    caption = (
        f"Probability that a run of the method scores above a run of {a.reference} on the same task (ties count "
        f"half), averaged over the tasks, with its {a.confidence_level:.0%} stratified bootstrap interval. Green: "
        "the interval lies above 0.5; red: below; grey: it contains 0.5."
    )
    return fig, f"Probability of improving on {a.reference}", caption


def _profiles(a: SuiteAnalysis):
    taus, profile = np.array(a.profile_taus), np.array(a.profile)
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    for j, method in enumerate(a.methods):
        ls = "-" if method == a.reference else ("--", "-.", ":")[j % 3]
        lw = 2.4 if method == a.reference else 1.4
        ax.step(taus, profile[:, j], where="post", ls=ls, lw=lw, label=method)
    ax.set_xlabel(f"τ: distance below the best method's mean ({_score_label(a)})")
    ax.set_ylabel("fraction of tasks within τ of the best")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(ncol=2, frameon=False)
    caption = (
        "Performance profiles (Dolan and Moré 2002): for each τ, the fraction of tasks on which the method's mean "
        "score is within τ of the best method's mean on that task. A curve that rises early and high is a method "
        "that is near the best on most tasks."
    )
    return fig, "Performance profiles", caption


def _task_decisions(a: SuiteAnalysis):
    methods = [m for m in a.methods if m != a.reference]
    fig = new_figure(1.1 * len(methods) + 2.2, 0.5 * len(a.tasks) + 1.4)
    fig.set_layout_engine("constrained")  # room for the legend outside the axes
    ax = fig.add_subplot()
    for d in a.decisions:
        x, y = methods.index(d.method), a.tasks.index(d.task)
        cell = Rectangle((x - 0.5, y - 0.5), 1, 1, color=DECISION_COLORS[d.decision], alpha=0.5)
        ax.add_patch(cell)
        text = "–" if d.estimate is None else f"{d.estimate:+.3f}\n{d.n} seeds"
        ax.text(x, y, text, ha="center", va="center", fontsize=7.5)
    ax.set_xlim(-0.5, len(methods) - 0.5)
    ax.set_ylim(len(a.tasks) - 0.5, -0.5)
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
    ax.set_yticks(range(len(a.tasks)), a.tasks)
    handles = [Patch(color=c, alpha=0.5, label=k) for k, c in DECISION_COLORS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False)
    caption = (
        f"Each task's decision of each method against {a.reference} (green better, red worse, blue equivalent, "
        f"grey undecided), with the estimated difference method − {a.reference} in {a.metric.replace('_', ' ')} "
        "and the paired seeds behind it."
    )
    return fig, f"Decisions per task against {a.reference}", caption

"""The report's PNG figures, drawn headless from a ``StudyAnalysis``: ``draw_figures(analysis, out_dir)``.

Every figure is drawn on its own: one that lacks its data is returned as a ``SkippedFigure`` with the reason in
plain words, and one whose drawing fails is reported the same way (``could not be drawn: ...``) while the others
are still written. Figures are built with the object API (``Figure`` on an Agg canvas), so no pyplot state is
touched and nothing stays open. Any jitter is seeded, so the same analysis gives the same images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import blended_transform_factory

from pipeline.optim import learns_rho
from pipeline.report.analysis import CORRECTION_NAMES, TEST_NAMES, StudyAnalysis, seeds_label

DPI = 140
REFERENCE_COLOR = "tab:orange"
METHOD_COLOR = "tab:blue"
FAILURE_COLOR = "tab:red"
OUTCOME_COLORS = {"better": "tab:green", "worse": "tab:red", "no significant difference": "0.45"}
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "figure.titlesize": 12,
}
NO_COMPARISON = "no comparison between methods was computed (it needs a study with 2 methods or more)"


@dataclass(frozen=True)
class FigureFile:
    name: str  # file name in out_dir, e.g. "accuracy.png"
    title: str  # short title for the markdown report
    caption: str  # what is plotted and how to read it


@dataclass(frozen=True)
class SkippedFigure:
    name: str
    reason: str  # plain words: why it could not be drawn


class _Skip(Exception):
    """Raised by a drawing function when the analysis lacks what its figure needs."""


def draw_figures(analysis: StudyAnalysis, out_dir: Path) -> tuple[list[FigureFile], list[SkippedFigure]]:
    """Draw every figure the analysis has data for into ``out_dir`` (created if missing).

    Returns the figures written, in report order, and the ones skipped with why. A figure's stale file from an
    earlier run is removed when the figure is skipped, so the folder never shows a figure the report does not.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Looked up at call time (not stored in a module-level table) so each drawing function can be replaced.
    drawers = (
        ("accuracy.png", _accuracy_figure),
        ("differences.png", _differences_figure),
        ("critical_difference.png", _critical_difference_figure),
        ("tuning.png", _tuning_figure),
        ("lets_rho.png", _lets_rho_figure),
        ("compute.png", _compute_figure),
        ("shift.png", _shift_figure),
    )
    written: list[FigureFile] = []
    skipped: list[SkippedFigure] = []
    for name, draw in drawers:
        path = out_dir / name
        try:
            with matplotlib.rc_context(STYLE):
                fig, title, caption = draw(analysis)
                _save(fig, path)
        except _Skip as skip:
            path.unlink(missing_ok=True)
            skipped.append(SkippedFigure(name, str(skip)))
        except Exception as error:  # noqa: BLE001 - one broken figure must never cost the others
            path.unlink(missing_ok=True)
            skipped.append(SkippedFigure(name, f"could not be drawn: {error}"))
        else:
            written.append(FigureFile(name, title, caption))
    return written, skipped


# ------------------------------------------------------------------------------------------------ helpers


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)  # headless canvas of its own: no backend switch, no pyplot registry
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")


def _metric_label(analysis: StudyAnalysis) -> str:
    return analysis.statistics.metric.replace("_", " ")


def _better_word(analysis: StudyAnalysis) -> str:
    return "higher is better" if analysis.higher_is_better else "lower is better"


def _highlight_reference(ax, reference: str, axis: str = "y") -> None:
    """Bold and colour the reference's tick label."""
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    for label in labels:
        if label.get_text() == reference:
            label.set_fontweight("bold")
            label.set_color(REFERENCE_COLOR)


def _method_rows(ax, methods: list[str], reference: str) -> None:
    """One row per method, the first at the top."""
    ax.set_yticks(range(len(methods)))
    ax.set_yticklabels(methods)
    ax.set_ylim(len(methods) - 0.5, -0.5)
    _highlight_reference(ax, reference)


def _grid(n: int, panel_w: float, panel_h: float, *, sharey: bool, max_cols: int = 3):
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig = _new_figure(panel_w * cols, panel_h * rows + 0.6)
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n], cols


def _level(analysis: StudyAnalysis) -> int:
    return round(100 * analysis.statistics.confidence_level)


def _p_text(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "adj. p = n/a"
    if p < 0.001:
        return f"adj. p = {p:.1e}"
    return f"adj. p = {p:.3g}"


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


# ------------------------------------------------------------------------------------------------ 1. accuracy


def _accuracy_figure(analysis: StudyAnalysis):
    if analysis.comparison is None:
        raise _Skip(NO_COMPARISON)
    methods = list(analysis.methods)
    if not any(v is not None for row in analysis.scores for v in row):
        raise _Skip(f"no evaluation run has a {analysis.statistics.metric} score")
    rng = np.random.default_rng(0)
    summaries = {s.method: s for s in analysis.comparison.summaries}
    fig = _new_figure(8.0, 0.42 * len(methods) + 1.3)
    ax = fig.add_subplot()
    n_failures = n_unscored = 0
    ci = None
    for j, method in enumerate(methods):
        color = REFERENCE_COLOR if method == analysis.reference else METHOD_COLOR
        ok, failed = [], []
        for i, row in enumerate(analysis.scores):
            v = row[j]
            if v is None:
                n_unscored += 1
            elif analysis.status[i][j] == "diverged":
                failed.append(v)
            else:
                ok.append(v)
        if ok:
            y = j + rng.uniform(-0.22, 0.22, len(ok))
            ax.scatter(ok, y, s=16, color=color, alpha=0.55, linewidths=0, zorder=2)
        if failed:
            y = j + rng.uniform(-0.22, 0.22, len(failed))
            ax.scatter(failed, y, s=30, marker="x", color=FAILURE_COLOR, linewidths=1.4, zorder=3)
            n_failures += len(failed)
        s = summaries.get(method)
        if s is not None and s.mean is not None:
            if s.ci is not None:
                ci = s.ci
                ax.plot([s.ci.low, s.ci.high], [j, j], color="black", lw=2.2, solid_capstyle="butt", zorder=4)
                ax.plot([s.ci.low] * 2, [j - 0.15, j + 0.15], color="black", lw=1.2, zorder=4)
                ax.plot([s.ci.high] * 2, [j - 0.15, j + 0.15], color="black", lw=1.2, zorder=4)
            ax.scatter([s.mean], [j], marker="D", s=34, color=color, edgecolors="black", linewidths=0.9, zorder=5)
    ref = summaries.get(analysis.reference)
    if ref is not None and ref.mean is not None:
        ax.axvline(ref.mean, color=REFERENCE_COLOR, lw=1, ls="--", alpha=0.8, zorder=1)
    _method_rows(ax, methods, analysis.reference)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(f"{_metric_label(analysis)} ({_better_word(analysis)})")
    ax.set_title(f"{_metric_label(analysis)} per method over {len(analysis.seeds)} seed(s)")
    handles = [
        Line2D([], [], ls="", marker="o", color=METHOD_COLOR, alpha=0.55, label="one seed"),
        Line2D([], [], ls="-", marker="D", color="black", mfc="white", label=f"mean, {_level(analysis)}% CI"),
    ]
    if n_failures:
        handles.append(Line2D([], [], ls="", marker="x", color=FAILURE_COLOR, label="diverged (scored as failure)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    kind = f"{ci.method} bootstrap" if ci is not None else "bootstrap"
    caption = (
        f"Each small point is one seed's {_metric_label(analysis)} (rows jittered vertically so points do not "
        f"hide each other); the diamond is the mean over seeds and the black bar its {_level(analysis)}% "
        f"{kind} confidence interval. The dashed line marks the mean of the reference, {analysis.reference} "
        "(highlighted)."
    )
    if n_failures:
        caption += f" An × is a diverged run scored as a failure ({n_failures} in all); it counts in the mean."
    if n_unscored:
        caption += f" {n_unscored} run(s) without a score (failed, missing or excluded) are not shown."
    return fig, f"{_metric_label(analysis).capitalize()} per method", caption


# ------------------------------------------------------------------------------------------------ 2. differences


def _differences_figure(analysis: StudyAnalysis):
    c = analysis.comparison
    if c is None:
        raise _Skip(NO_COMPARISON)
    tested = [v for v in c.versus_reference if v.paired is not None]
    if not tested:
        raise _Skip(f"no method shares 2 or more scored seeds with the reference {analysis.reference}: nothing tested")
    order = {m: i for i, m in enumerate(analysis.methods)}
    tested.sort(key=lambda v: order.get(v.method, len(order)))
    values = [0.0]
    for v in tested:
        values += [x for x in (v.paired.mean_difference, v.paired.ci_low, v.paired.ci_high) if math.isfinite(x)]
    lo, hi = min(values), max(values)
    span = hi - lo or max(abs(hi), 1e-3)
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    has_inf = any(not (math.isfinite(v.paired.ci_low) and math.isfinite(v.paired.ci_high)) for v in tested)
    if has_inf:  # leave room for the arrow heads that mark an infinite end
        lo, hi = lo - 0.05 * span, hi + 0.05 * span

    fig_h = 0.42 * len(tested) + 1.4
    fig = _new_figure(8.0, fig_h)
    ax = fig.add_subplot()
    ax.axvline(0.0, color="black", lw=1, zorder=1)
    text_at = blended_transform_factory(ax.transAxes, ax.transData)
    for row, v in enumerate(tested):
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
            _p_text(v.p_adjusted),
            (1, row),
            xycoords=text_at,
            xytext=(10, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=9,
        )
    ax.set_xlim(lo, hi)
    ax.set_yticks(range(len(tested)))
    ax.set_yticklabels([v.method for v in tested])
    ax.set_ylim(len(tested) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    s = analysis.statistics
    ax.set_xlabel(f"difference in {_metric_label(analysis)}, method − {analysis.reference} ({_better_word(analysis)})")
    ax.set_title(f"Paired difference from the reference {analysis.reference}")
    outcomes = [o for o in OUTCOME_COLORS if any(v.outcome == o for v in tested)]
    handles = [Line2D([], [], color=OUTCOME_COLORS[o], lw=2.2, marker="o", mec="black", label=o) for o in outcomes]
    below_xlabel = -0.6 / (fig_h * (fig.subplotpars.top - fig.subplotpars.bottom))  # 0.6 inch under the axes
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, below_xlabel), frameon=False, ncol=len(handles))

    seeds = seeds_label(tested)
    sided = "two-sided" if s.alternative == "two-sided" else "one-sided"
    caption = (
        f"Each row is one method's mean paired difference from {analysis.reference} (method − reference, over "
        f"{seeds} shared seed(s)) with its {sided} {_level(analysis)}% t-interval; left of the vertical line at 0 the "
        f"method scores lower. Colour gives the outcome of the {TEST_NAMES.get(s.test, s.test)} at α = {s.alpha:g} "
        f"after {CORRECTION_NAMES.get(s.correction, s.correction)}, whose adjusted p-value is written on the right."
    )
    if has_inf:
        caption += " An arrow head marks an interval end that is infinite (one-sided test), clipped to the axis."
    return fig, f"Differences from {analysis.reference}", caption


# -------------------------------------------------------------------------------------- 3. critical difference


def _cliques(ranks: list[float], cd: float) -> list[tuple[int, int]]:
    """Maximal groups of methods whose average ranks differ by less than ``cd``, as ``(first, last)`` indices into
    ``sorted(ranks)``; groups of one are left out."""
    r = sorted(ranks)
    out: list[tuple[int, int]] = []
    last = -1
    for i in range(len(r)):
        j = i
        while j + 1 < len(r) and r[j + 1] - r[i] < cd:
            j += 1
        if j > i and j > last:
            out.append((i, j))
            last = j
    return out


def _critical_difference_figure(analysis: StudyAnalysis):
    c = analysis.comparison
    if c is None:
        raise _Skip(NO_COMPARISON)
    ranks = c.ranks
    if not ranks.average_ranks:
        raise _Skip("no seed has a score for every method, so no average ranks: " + "; ".join(ranks.notes))
    if ranks.critical_difference is None:
        raise _Skip("no critical difference was computed for the ranks")
    k = len(ranks.methods)
    cd = ranks.critical_difference
    order = sorted(range(k), key=lambda i: ranks.average_ranks[i])
    r_sorted = [ranks.average_ranks[i] for i in order]
    groups = _cliques(list(ranks.average_ranks), cd)
    # Pack the clique bars into rows: bars that do not overlap share one.
    rows_end: list[float] = []
    bar_rows = []
    for a, b in groups:
        start, end = r_sorted[a], r_sorted[b]
        row = next((i for i, e in enumerate(rows_end) if e + 0.25 < start), None)
        if row is None:
            rows_end.append(end)
            row = len(rows_end) - 1
        else:
            rows_end[row] = end
        bar_rows.append((row, start, end))
    n_left = math.ceil(k / 2)
    left, right = order[:n_left], order[n_left:][::-1]  # right side: worst first, nearest the axis
    n_lines = max(len(left), len(right))

    step = 1.0  # vertical unit: one label line
    clique_top = -0.8
    clique_step = 0.55
    labels_top = clique_top - clique_step * max(len(rows_end), 0) - 0.7
    bottom = labels_top - step * (n_lines - 1) - 0.6
    top = 3.1
    height = (top - bottom) * 0.26 + 0.5
    fig = _new_figure(9.0, height)
    ax = fig.add_axes((0.2, 0.0, 0.6, 1.0))
    ax.set_xlim(1, k)
    ax.set_ylim(bottom, top)
    ax.axis("off")
    line = {"color": "black", "lw": 1, "clip_on": False}
    # the rank axis, ticks and numbers
    ax.plot([1, k], [0, 0], **line)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.28], **line)
        ax.text(t, 0.45, str(t), ha="center", va="bottom", fontsize=9)
    for t in np.arange(1.5, k, 1.0):
        ax.plot([t, t], [0, 0.14], **line)
    ax.text((1 + k) / 2, 1.25, "average rank (1 = best)", ha="center", va="bottom", fontsize=9, color="0.3")
    # the CD bar
    ax.plot([1, 1 + cd], [2.0, 2.0], color="black", lw=1.5, clip_on=False)
    for x in (1, 1 + cd):
        ax.plot([x, x], [1.85, 2.15], color="black", lw=1.5, clip_on=False)
    ax.text(1 + cd / 2, 2.2, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9.5)

    def label(i: int, y: float, side: str) -> None:
        x_rank = ranks.average_ranks[i]
        x_end = 1 - 0.35 if side == "left" else k + 0.35
        ax.plot([x_rank, x_rank, x_end], [0, y, y], color="0.35", lw=0.9, clip_on=False, zorder=1)
        ax.plot([x_rank], [0], marker="o", ms=4, color="black", clip_on=False, zorder=3)
        method = ranks.methods[i]
        is_ref = method == analysis.reference
        text = f"{method} ({x_rank:.2f})" if side == "left" else f"({x_rank:.2f}) {method}"
        ax.text(
            x_end + (-0.08 if side == "left" else 0.08),
            y,
            text,
            ha="right" if side == "left" else "left",
            va="center",
            fontsize=10,
            fontweight="bold" if is_ref else "normal",
            color=REFERENCE_COLOR if is_ref else "black",
        )

    for n, i in enumerate(left):
        label(i, labels_top - step * n, "left")
    for n, i in enumerate(right):
        label(i, labels_top - step * n, "right")
    for row, start, end in bar_rows:
        y = clique_top - clique_step * row
        ax.plot(
            [start - 0.06, end + 0.06], [y, y], color="black", lw=4, solid_capstyle="round", clip_on=False, zorder=4
        )

    title = f"Critical-difference diagram over {ranks.n_seeds} seed(s)"
    if ranks.friedman is not None:
        title += f" — Friedman p = {ranks.friedman.p_value:.3g}"
    ax.set_title(title, pad=4)
    alpha = c.settings.alpha
    caption = (
        f"Average rank of every method over the {ranks.n_seeds} seed(s) scored for all of them (1 = best, on the "
        f"left; the rank follows each name). Methods joined by a thick bar have average ranks closer than the "
        f"Nemenyi critical difference (CD = {cd:.2f}, α = {alpha:g}), so the test cannot tell them apart."
    )
    if ranks.friedman is not None:
        caption += f" The Friedman test that all methods rank alike gives p = {ranks.friedman.p_value:.3g}."
    if cd >= k - 1:
        caption += " The CD exceeds the whole rank range: with this few seeds no two methods can be told apart."
    return fig, "Critical-difference diagram", caption


# ------------------------------------------------------------------------------------------------ 4. tuning


def _tuning_figure(analysis: StudyAnalysis):
    tuned = [t for t in analysis.tuning if any(p.rho is not None for p in t.points)]
    if not tuned:
        raise _Skip("no method has a tuning trial with a ρ (nothing was tuned)")
    fig, axes, cols = _grid(len(tuned), 3.5, 2.7, sharey=True)
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
            _log_x(ax, max(rhos) / min(rhos))
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


def _log_x(ax, ratio: float) -> None:
    """Log x axis with plain tick labels (0.02, 0.1, ...) and no crowded minor labels."""
    decades = math.log10(ratio)
    subs = (1.0, 2.0, 5.0) if decades < 1.5 else ((1.0, 3.0) if decades < 3 else (1.0,))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


# ------------------------------------------------------------------------------------------------ 5. LETS ρ


def _lets_rho_figure(analysis: StudyAnalysis):
    if not analysis.lets_trajectories:
        has_lets = any(learns_rho(c.optimizer) for c in analysis.costs)
        raise _Skip("no LETS run finished with a ρ trajectory" if has_lets else "no LETS method in the study")
    methods = []
    for tr in analysis.lets_trajectories:
        if tr.method not in methods:
            methods.append(tr.method)
    order = {m: i for i, m in enumerate(analysis.methods)}
    methods.sort(key=lambda m: order.get(m, len(order)))
    fig, axes, _ = _grid(len(methods), 3.8, 2.8, sharey=False)
    for ax, method in zip(axes, methods, strict=True):
        for tr in sorted((t for t in analysis.lets_trajectories if t.method == method), key=lambda t: t.seed):
            ax.plot(range(len(tr.rho)), tr.rho, lw=1.4, label=f"seed {tr.seed}")
        ax.set_title(method, fontweight="bold" if method == analysis.reference else "normal")
        ax.set_xlabel("epoch")
        ax.set_ylabel("ρ")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="best")
    # no shared y: the radii of LETS around different inner optimizers (ASAM's ρ is ~10x SAM's) differ a lot
    fig.suptitle("LETS: ρ over training")
    caption = (
        "One panel per LETS method, one line per evaluation seed: the perturbation radius ρ at the start "
        "(epoch 0) and after every epoch of training."
    )
    return fig, "LETS ρ over training", caption


# ------------------------------------------------------------------------------------------------ 6. compute


def _compute_figure(analysis: StudyAnalysis):
    c = analysis.comparison
    if c is None:
        raise _Skip(NO_COMPARISON)
    summaries = {s.method: s for s in c.summaries}
    costs = {x.method: x for x in analysis.costs}
    points = []
    for method in analysis.methods:
        cost, s = costs.get(method), summaries.get(method)
        if cost is None or s is None or not _finite(cost.mean_run_time_s) or s.mean is None:
            continue
        points.append((method, cost.mean_run_time_s, s, cost.passes_per_step))
    if not points:
        raise _Skip("no method has both a measured evaluation run time and a scored run")
    fig = _new_figure(8.5, 5.6)
    ax = fig.add_subplot()
    for method, t, s, _ in points:
        color = REFERENCE_COLOR if method == analysis.reference else METHOD_COLOR
        low = s.mean - s.ci.low if s.ci is not None else 0.0
        high = s.ci.high - s.mean if s.ci is not None else 0.0
        ax.errorbar(
            [t],
            [s.mean],
            yerr=[[low], [high]],
            fmt="o",
            ms=6 if method != analysis.reference else 8,
            color=color,
            ecolor=color,
            elinewidth=1.3,
            capsize=3,
            zorder=3,
        )
    times = [t for _, t, _, _ in points]
    if min(times) > 0 and max(times) / min(times) > 10:
        _log_x(ax, max(times) / min(times))
    ax.margins(x=0.12, y=0.1)
    ax.grid(alpha=0.3)
    ax.set_xlabel("mean training run time (s, measured wall time)")
    ax.set_ylabel(f"{_metric_label(analysis)} ({_better_word(analysis)})")
    ax.set_title(f"{_metric_label(analysis).capitalize()} against compute")
    labels = []
    for method, _, _, passes in points:
        text = method if passes is None else f"{method} ({passes:g}×)"
        labels.append((text, method == analysis.reference))
    bars = [(t, s.ci.low, s.ci.high) for _, t, s, _ in points if s.ci is not None]
    _place_labels(fig, ax, [(t, s.mean) for _, t, s, _ in points], labels, bars)
    if any(p[3] is not None for p in points):
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
    caption = (
        f"Each point is one method: its mean {_metric_label(analysis)} over seeds with the {_level(analysis)}% "
        "bootstrap confidence interval (vertical bar) against its mean run time, in measured wall seconds per "
        "training run of the evaluation phase (tuning not counted). The number after each name is its forward-"
        f"backward passes per step; the reference {analysis.reference} is highlighted."
    )
    dropped = [m for m in analysis.methods if m not in {p[0] for p in points}]
    if dropped:
        caption += f" Not shown (no run time or no score): {', '.join(dropped)}."
    return fig, "Accuracy against compute" if analysis.higher_is_better else "Metric against compute", caption


def _place_labels(
    fig: Figure,
    ax,
    xy: list[tuple[float, float]],
    labels: list[tuple[str, bool]],
    bars: list[tuple[float, float, float]] = (),
) -> None:
    """Annotate each point, trying a few offsets and keeping the first that overlaps no placed label, no point
    and no vertical error bar ``(x, low, high)``; failing that, the one that overlaps least."""
    renderer = fig.canvas.get_renderer()
    ax.set_xlim(ax.get_xlim())  # freeze the limits so data -> pixels is fixed while placing
    ax.set_ylim(ax.get_ylim())
    pix = ax.transData.transform(np.asarray(xy, dtype=float))
    radius = 6.0
    point_boxes = [(x - radius, y - radius, x + radius, y + radius) for x, y in pix]
    for x, low, high in bars:
        (bx, by0), (_, by1) = ax.transData.transform([(x, low), (x, high)])
        point_boxes.append((bx - 4, min(by0, by1), bx + 4, max(by0, by1)))
    near = [(7, 5), (7, -5), (-7, 5), (-7, -5), (7, 16), (7, -16), (-7, 16), (-7, -16)]
    far = [(22, 10), (22, -10), (-22, 10), (-22, -10), (0, 26), (0, -26), (22, 28), (22, -28), (-22, 28), (-22, -28)]
    offsets = near + far  # a far label gets a leader line to its point
    placed: list[tuple[float, float, float, float]] = []
    axes_box = ax.get_window_extent(renderer)

    def annotate(text: str, x: float, y: float, dx: float, dy: float, is_ref: bool, leader: bool = False):
        return ax.annotate(
            text,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
            va="bottom" if dy > 0 else "top",
            fontsize=8.5,
            fontweight="bold" if is_ref else "normal",
            color=REFERENCE_COLOR if is_ref else "0.15",
            zorder=5,
            arrowprops={"arrowstyle": "-", "color": "0.55", "lw": 0.7, "shrinkA": 1, "shrinkB": 4} if leader else None,
        )

    def overlap(a, b) -> float:
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    for (x, y), (text, is_ref) in sorted(zip(xy, labels, strict=True), key=lambda item: item[0][0]):
        best = None
        for dx, dy in offsets:
            ann = annotate(text, x, y, dx, dy, is_ref)
            e = ann.get_window_extent(renderer)
            box = (e.x0 - 1, e.y0 - 1, e.x1 + 1, e.y1 + 1)
            cost = sum(overlap(box, b) for b in placed) + sum(overlap(box, b) for b in point_boxes)
            outside = max(0.0, axes_box.x0 - box[0]) + max(0.0, box[2] - axes_box.x1)
            outside += max(0.0, axes_box.y0 - box[1]) + max(0.0, box[3] - axes_box.y1)
            cost += 50 * outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box, (dx, dy))
            else:
                ann.remove()
            if cost == 0:
                break
        _, ann, box, (dx, dy) = best
        if (dx, dy) in far:
            ann.remove()
            annotate(text, x, y, dx, dy, is_ref, leader=True)
        placed.append(box)


# ------------------------------------------------------------------------------------------------ 7. shift


def _shift_figure(analysis: StudyAnalysis):
    if not analysis.shift:
        raise _Skip("the study has no shifted test set")
    order = {m: i for i, m in enumerate(analysis.methods)}
    rows = sorted(analysis.shift, key=lambda s: order.get(s.method, len(order)))
    methods = [s.method for s in rows]
    fig = _new_figure(10.0, 0.42 * len(rows) + 1.6)
    fig.set_layout_engine("constrained")
    ax_acc, ax_gap = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": (1.3, 1.0)})
    y = np.arange(len(rows))
    h = 0.38
    ax_acc.barh(y - h / 2, [s.test_mean for s in rows], height=h, color=METHOD_COLOR, label="test")
    ax_acc.barh(
        y + h / 2, [s.shifted_mean for s in rows], height=h, color="tab:purple", alpha=0.75, label="shifted test"
    )
    highest = max(max(s.test_mean, s.shifted_mean) for s in rows)
    ax_acc.set_xlim(0, min(1.0, highest * 1.05) if highest <= 1 else highest * 1.05)
    ax_acc.set_xlabel("mean accuracy over seeds")
    ax_acc.set_title("Test and shifted-test accuracy")
    fig.legend(*ax_acc.get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    ax_acc.grid(axis="x", alpha=0.3)
    gaps = [s.gap_mean for s in rows]
    errs = [s.gap_std if s.gap_std is not None else 0.0 for s in rows]
    colors = [REFERENCE_COLOR if m == analysis.reference else "0.45" for m in methods]
    ax_gap.barh(y, gaps, height=0.6, color=colors, xerr=errs, error_kw={"capsize": 3, "elinewidth": 1.1})
    ax_gap.axvline(0, color="black", lw=1)
    ax_gap.set_xlabel("gap: test − shifted (lower is more robust)")
    ax_gap.set_title("Accuracy lost to the shift")
    ax_gap.grid(axis="x", alpha=0.3)
    _method_rows(ax_acc, methods, analysis.reference)
    caption = (
        "Left: each method's mean accuracy over seeds on the test set and on the shifted test set. Right: the mean "
        "gap (test − shifted) per method, with ± one standard deviation over seeds as the error bar (none for a "
        f"single seed). Only successful runs count; the reference {analysis.reference} is highlighted."
    )
    return fig, "Distribution shift", caption

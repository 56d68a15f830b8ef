"""Figure 3, ``critical_difference.png``: average ranks on one axis, methods the Nemenyi test cannot separate joined."""

from __future__ import annotations

import math

import numpy as np

from pipeline.report.analysis import StudyAnalysis
from pipeline.report.figures.skip import NO_COMPARISON, Skip
from pipeline.report.figures.style import REFERENCE_COLOR, new_figure


def cliques(ranks: list[float], cd: float) -> list[tuple[int, int]]:
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


def critical_difference_figure(analysis: StudyAnalysis):
    c = analysis.comparison
    if c is None:
        raise Skip(NO_COMPARISON)
    ranks = c.ranks
    if not ranks.average_ranks:
        raise Skip("no seed has a score for every method, so no average ranks: " + "; ".join(ranks.notes))
    if ranks.critical_difference is None:
        raise Skip("no critical difference was computed for the ranks")
    k = len(ranks.methods)
    cd = ranks.critical_difference
    order = sorted(range(k), key=lambda i: ranks.average_ranks[i])
    r_sorted = [ranks.average_ranks[i] for i in order]
    groups = cliques(list(ranks.average_ranks), cd)
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
    fig = new_figure(9.0, height)
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

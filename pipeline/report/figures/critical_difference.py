"""Figure 3, ``critical_difference.png``: average ranks on one axis, methods the Nemenyi test cannot separate joined."""

from __future__ import annotations

import math

import numpy as np

from pipeline.report.figures.skip import NO_COMPARISON, Skip
from pipeline.report.figures.style import REFERENCE_COLOR, new_figure
from pipeline.report.stats_record import StudyAnalysis

# Heights in data units: the rank axis at 0, the CD bar at 2; below the axis the clique bars, then the labels.
TOP = 3.1
CLIQUE_TOP = -0.8
CLIQUE_STEP = 0.55
LABEL_STEP = 1.0  # one label line


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
    bar_rows, n_bar_rows = _pack_clique_bars(list(ranks.average_ranks), cd)
    order = sorted(range(k), key=lambda i: ranks.average_ranks[i])
    n_left = math.ceil(k / 2)
    left, right = order[:n_left], order[n_left:][::-1]  # right side: worst first, nearest the axis
    labels_top = CLIQUE_TOP - CLIQUE_STEP * n_bar_rows - 0.7
    fig, ax = _canvas(k, labels_top, max(len(left), len(right)))
    _draw_rank_axis(ax, k)
    _draw_cd_bar(ax, cd)
    for side, indices in (("left", left), ("right", right)):
        for n, i in enumerate(indices):
            _draw_label(ax, ranks, i, labels_top - LABEL_STEP * n, side, analysis.reference)
    for row, start, end in bar_rows:
        y = CLIQUE_TOP - CLIQUE_STEP * row
        ax.plot(
            [start - 0.06, end + 0.06], [y, y], color="black", lw=4, solid_capstyle="round", clip_on=False, zorder=4
        )
    title = f"Critical-difference diagram over {ranks.n_seeds} seed(s)"
    if ranks.friedman is not None:
        title += f" — Friedman p = {ranks.friedman.p_value:.3g}"
    ax.set_title(title, pad=4)
    return fig, "Critical-difference diagram", _caption(ranks, cd, c.settings.alpha)


def _pack_clique_bars(average_ranks: list[float], cd: float) -> tuple[list[tuple[int, float, float]], int]:
    """The clique bars as ``(row, start rank, end rank)``, packed into rows: bars that do not overlap share one.
    Also returns the number of rows."""
    r_sorted = sorted(average_ranks)
    rows_end: list[float] = []
    bar_rows = []
    for a, b in cliques(average_ranks, cd):
        start, end = r_sorted[a], r_sorted[b]
        row = next((i for i, e in enumerate(rows_end) if e + 0.25 < start), None)
        if row is None:
            rows_end.append(end)
            row = len(rows_end) - 1
        else:
            rows_end[row] = end
        bar_rows.append((row, start, end))
    return bar_rows, len(rows_end)


def _canvas(k: int, labels_top: float, n_lines: int):
    """A figure just tall enough for the CD bar, the axis, the clique bars and ``n_lines`` label lines; no frame."""
    bottom = labels_top - LABEL_STEP * (n_lines - 1) - 0.6
    height = (TOP - bottom) * 0.26 + 0.5
    fig = new_figure(9.0, height)
    ax = fig.add_axes((0.2, 0.0, 0.6, 1.0))
    ax.set_xlim(1, k)
    ax.set_ylim(bottom, TOP)
    ax.axis("off")
    return fig, ax


def _draw_rank_axis(ax, k: int) -> None:
    """The rank axis from 1 to ``k``: ticks and numbers at whole ranks, short ticks halfway."""
    line = {"color": "black", "lw": 1, "clip_on": False}
    ax.plot([1, k], [0, 0], **line)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.28], **line)
        ax.text(t, 0.45, str(t), ha="center", va="bottom", fontsize=9)
    for t in np.arange(1.5, k, 1.0):
        ax.plot([t, t], [0, 0.14], **line)
    ax.text((1 + k) / 2, 1.25, "average rank (1 = best)", ha="center", va="bottom", fontsize=9, color="0.3")


def _draw_cd_bar(ax, cd: float) -> None:
    """A capped bar one critical difference long, from rank 1, with its value above."""
    ax.plot([1, 1 + cd], [2.0, 2.0], color="black", lw=1.5, clip_on=False)
    for x in (1, 1 + cd):
        ax.plot([x, x], [1.85, 2.15], color="black", lw=1.5, clip_on=False)
    ax.text(1 + cd / 2, 2.2, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9.5)


def _draw_label(ax, ranks, i: int, y: float, side: str, reference: str) -> None:
    """Method ``i``'s name and average rank at height ``y`` beside the axis, an elbow line to its rank on the axis."""
    k = len(ranks.methods)
    x_rank = ranks.average_ranks[i]
    x_end = 1 - 0.35 if side == "left" else k + 0.35
    ax.plot([x_rank, x_rank, x_end], [0, y, y], color="0.35", lw=0.9, clip_on=False, zorder=1)
    ax.plot([x_rank], [0], marker="o", ms=4, color="black", clip_on=False, zorder=3)
    method = ranks.methods[i]
    is_ref = method == reference
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


def _caption(ranks, cd: float, alpha: float) -> str:
    caption = (
        f"Average rank of every method over the {ranks.n_seeds} seed(s) scored for all of them (1 = best, on the "
        f"left; the rank follows each name). Methods joined by a thick bar have average ranks closer than the "
        f"Nemenyi critical difference (CD = {cd:.2f}, α = {alpha:g}), so the test cannot tell them apart."
    )
    if ranks.friedman is not None:
        caption += f" The Friedman test that all methods rank alike gives p = {ranks.friedman.p_value:.3g}."
    if cd >= len(ranks.methods) - 1:
        caption += " The CD exceeds the whole rank range: with this few seeds no two methods can be told apart."
    return caption

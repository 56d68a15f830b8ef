"""``spread.png``: where each comparison's spread comes from, and what more seeds or a larger test set would do."""

from __future__ import annotations

import numpy as np

from pipeline.report.figures.axes import method_rows
from pipeline.report.figures.skip import NotApplicable
from pipeline.report.figures.style import new_figure
from pipeline.report.stats_record import StudyAnalysis

LEVER_COLORS = {"test set": "tab:purple", "seeds": "tab:blue", "both": "0.45"}


def spread_figure(analysis: StudyAnalysis):
    if not analysis.spread:  # no per-example outcomes: a study from before they were kept, or another metric
        raise NotApplicable
    rows = analysis.spread
    methods = [x.method for x in rows]
    fig = new_figure(10.0, 0.5 * len(rows) + 1.9)
    fig.set_layout_engine("constrained")
    ax_share, ax_width = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": (1.0, 1.3)})
    y = np.arange(len(rows))
    shares = np.array([100 * x.test_set_share for x in rows])
    low = shares - np.array([100 * x.test_set_share_low for x in rows])
    high = np.array([100 * x.test_set_share_high for x in rows]) - shares
    colors = [LEVER_COLORS[x.lever] for x in rows]
    ax_share.barh(y, shares, height=0.6, color=colors, xerr=[low, high], error_kw={"capsize": 3, "elinewidth": 1.1})
    ax_share.axvline(50, color="black", lw=0.8, ls=":")
    ax_share.set_xlim(0, 100)
    ax_share.set_xlabel("test set's share of the variance (%)")
    ax_share.set_title("Where the spread comes from")
    ax_share.grid(axis="x", alpha=0.3)
    h = 0.26
    k = rows[0].factor
    for offset, values, label, color in (
        (-h, [x.half_width for x in rows], "now", "0.3"),
        (0.0, [x.half_width_more_seeds for x in rows], f"{k}× seeds", "tab:blue"),
        (h, [x.half_width_larger_test_set for x in rows], f"{k}× test set", "tab:purple"),
    ):
        ax_width.barh(y + offset, 100 * np.array(values), height=h, color=color, label=label)
    ax_width.set_xlabel("half-width of the mean difference's interval (accuracy points)")
    ax_width.set_title("What would narrow it")
    ax_width.grid(axis="x", alpha=0.3)
    fig.legend(*ax_width.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    method_rows(ax_share, methods, analysis.reference)
    level = round(100 * analysis.statistics.confidence_level)
    caption = (
        "Left: per comparison with the reference, the finite test set's share of the variance over seeds of the "
        f"paired difference in test accuracy, with its {level}% interval; purple where the test set is most of "
        "it (a larger test set helps most), blue where the training runs are (more seeds), grey where both are. "
        f"Right: the half-width of the mean difference's {level}% t-interval now, with {k}× the seeds, and with a "
        f"{k}× larger test set from the same distribution."
    )
    return fig, "Where the spread comes from", caption

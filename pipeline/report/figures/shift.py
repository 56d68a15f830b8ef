"""Figure 7, ``shift.png``: test and shifted-test accuracy per method, and the accuracy the shift costs."""

from __future__ import annotations

import numpy as np

from pipeline.report.figures.axes import method_rows
from pipeline.report.figures.skip import Skip
from pipeline.report.figures.style import METHOD_COLOR, REFERENCE_COLOR, new_figure
from pipeline.report.stats_record import StudyAnalysis


def shift_figure(analysis: StudyAnalysis):
    if not analysis.shift:
        raise Skip("the study has no shifted test set")
    order = {m: i for i, m in enumerate(analysis.methods)}
    rows = sorted(analysis.shift, key=lambda s: order.get(s.method, len(order)))
    methods = [s.method for s in rows]
    fig = new_figure(10.0, 0.42 * len(rows) + 1.6)
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
    method_rows(ax_acc, methods, analysis.reference)
    caption = (
        "Left: each method's mean accuracy over seeds on the test set and on the shifted test set. Right: the mean "
        "gap (test − shifted) per method, with ± one standard deviation over seeds as the error bar (none for a "
        f"single seed). Only successful runs count; the reference {analysis.reference} is highlighted."
    )
    return fig, "Distribution shift", caption

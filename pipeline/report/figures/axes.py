"""Axes furniture several figures share: a grid of panels, one row per method, a readable log x axis."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from pipeline.report.figures.style import REFERENCE_COLOR, new_figure


def highlight_reference(ax, reference: str, axis: str = "y") -> None:
    """Bold and colour the reference's tick label."""
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    for label in labels:
        if label.get_text() == reference:
            label.set_fontweight("bold")
            label.set_color(REFERENCE_COLOR)


def method_rows(ax, methods: list[str], reference: str) -> None:
    """One row per method, the first at the top."""
    ax.set_yticks(range(len(methods)))
    ax.set_yticklabels(methods)
    ax.set_ylim(len(methods) - 0.5, -0.5)
    highlight_reference(ax, reference)


def panel_grid(n: int, panel_w: float, panel_h: float, *, sharey: bool, max_cols: int = 3):
    """A figure of ``n`` panels, at most ``max_cols`` across; returns it, its ``n`` axes and the columns."""
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig = new_figure(panel_w * cols, panel_h * rows + 0.6)
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n], cols


def log_x(ax, ratio: float) -> None:
    """Log x axis with plain tick labels (0.02, 0.1, ...) and no crowded minor labels."""
    decades = math.log10(ratio)
    subs = (1.0, 2.0, 5.0) if decades < 1.5 else ((1.0, 3.0) if decades < 3 else (1.0,))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())

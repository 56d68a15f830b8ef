"""The look every figure shares: resolution, colours, fonts, a headless Agg canvas, and how a figure is saved."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 140
REFERENCE_COLOR = "tab:orange"
METHOD_COLOR = "tab:blue"
FAILURE_COLOR = "tab:red"
OUTCOME_COLORS = {"better": "tab:green", "worse": "tab:red", "no significant difference": "0.45"}
DECISION_COLORS = {"better": "tab:green", "worse": "tab:red", "equivalent": "tab:blue", "undecided": "0.45"}
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "figure.titlesize": 12,
}


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)  # headless canvas of its own: no backend switch, no pyplot registry
    return fig


def save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")

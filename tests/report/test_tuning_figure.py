"""``tuning.png``: each panel's accuracy axis fits its own trials, so the differences the selection chose among show;
a diverged trial sits on the bottom edge instead of dragging the axis to 0; the selected trial is marked."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.report.figures import style
from pipeline.report.figures.tuning import SELECTED, tuning_figure
from tests.report.study_folder import analysis_of, write_changed_study

RHOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


@pytest.fixture(autouse=True)
def fast_dpi(monkeypatch):
    monkeypatch.setattr(style, "DPI", 60)


def tuning(low: float, high: float) -> list[tuple[float, float | None]]:
    """Trials between ``low`` and ``high`` validation accuracy, the largest ρ diverged."""
    accuracies = np.linspace(low, high, len(RHOS) - 1)
    return [*zip(RHOS[:-1], (float(a) for a in accuracies), strict=True), (RHOS[-1], None)]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """sam's trials at 0.90–0.93, fsam's at 0.95–0.97: panels whose accuracies do not overlap."""
    scores = {m: [0.9, 0.91, 0.92] for m in ("sam", "fsam", "sgd")}
    trials = {"sam": tuning(0.90, 0.93), "fsam": tuning(0.95, 0.97)}
    analysis = analysis_of(write_changed_study(tmp_path_factory.mktemp("tuning"), scores, tuning=trials))
    fig, _, caption = tuning_figure(analysis)
    fig.canvas.draw()
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    return analysis, trials, panels, caption


def test_each_panel_fits_its_own_trials_not_zero(drawn):
    _, trials, panels, _ = drawn
    assert sorted(panels) == ["fsam", "sam"]
    for method, ax in panels.items():
        trained = [a for _, a in trials[method] if a is not None]
        low, high = ax.get_ylim()
        span = max(trained) - min(trained)
        assert min(trained) - 0.5 * span < low < min(trained), method  # the margin, not 0
        assert max(trained) < high < max(trained) + 0.5 * span, method
    assert panels["sam"].get_ylim() != panels["fsam"].get_ylim()  # no shared axis


def test_a_diverged_trial_is_drawn_inside_the_panel_at_its_bottom(drawn):
    _, _, panels, caption = drawn
    for method, ax in panels.items():
        low, high = ax.get_ylim()
        points = [tuple(xy) for c in ax.collections if c.get_label() != SELECTED for xy in c.get_offsets()]
        diverged = [(x, y) for x, y in points if x == RHOS[-1]]
        assert len(diverged) == 1, method
        x, y = diverged[0]
        assert low <= y < low + 0.1 * (high - low), method  # along the bottom edge, inside the axes
        assert ax.get_xlim()[0] < x < ax.get_xlim()[1], method
    assert "diverged" in caption and "bottom" in caption


def test_the_selected_trial_is_marked_where_it_was_drawn(drawn):
    analysis, trials, panels, caption = drawn
    for method, ax in panels.items():
        summary = next(t for t in analysis.tuning if t.method == method)
        chosen = next(p for p in summary.points if p.selected)
        assert chosen.objective == pytest.approx(max(a for _, a in trials[method] if a is not None))
        marks = [c for c in ax.collections if c.get_label() == SELECTED]
        assert len(marks) == 1
        assert tuple(marks[0].get_offsets()[0]) == pytest.approx((chosen.rho, chosen.objective))
    assert "selected" in caption


def test_a_trial_that_barely_learnt_does_not_flatten_the_panel(tmp_path):
    """As on the quick study: one ρ far too large (validation accuracy 0.10) beside trials at 0.915–0.94."""
    scores = {m: [0.9, 0.91, 0.92] for m in ("sam", "fsam", "sgd")}
    good = [0.921, 0.93, 0.92, 0.915, 0.9375]
    sam = [*zip(RHOS[:-1], good, strict=True), (RHOS[-1], 0.10)]
    analysis = analysis_of(write_changed_study(tmp_path, scores, tuning={"sam": sam, "fsam": tuning(0.95, 0.97)}))
    fig, _, caption = tuning_figure(analysis)
    fig.canvas.draw()
    ax = next(ax for ax in fig.axes if ax.get_title() == "sam")
    low, high = ax.get_ylim()
    assert min(good) - 0.5 * (max(good) - min(good)) < low < min(good)  # fitted to the good trials, not to 0.10
    offsets = [tuple(xy) for c in ax.collections if c.get_label() != SELECTED for xy in c.get_offsets()]
    [y] = [y for x, y in offsets if x == RHOS[-1]]
    assert low <= y < low + 0.1 * (high - low)  # drawn on the bottom edge
    assert any(t.get_text() == "0.10" for t in ax.texts)  # with its accuracy written beside it
    assert "far below" in caption

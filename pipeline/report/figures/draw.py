"""``draw_figures``: every figure in report order, each on its own, a skip or a failure costing no other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from pipeline.report.figures.accuracy import accuracy_figure
from pipeline.report.figures.compute import compute_figure
from pipeline.report.figures.critical_difference import critical_difference_figure
from pipeline.report.figures.decisions import decisions_figure
from pipeline.report.figures.differences import differences_figure
from pipeline.report.figures.lets_rho import lets_rho_figure
from pipeline.report.figures.shift import shift_figure
from pipeline.report.figures.skip import NotApplicable, Skip
from pipeline.report.figures.spread import spread_figure
from pipeline.report.figures.style import STYLE, save
from pipeline.report.figures.tuning import tuning_figure
from pipeline.report.stats_record import StudyAnalysis


@dataclass(frozen=True)
class FigureFile:
    name: str  # file name in out_dir, e.g. "accuracy.png"
    title: str  # short title for the markdown report
    caption: str  # what is plotted and how to read it


@dataclass(frozen=True)
class SkippedFigure:
    name: str
    reason: str  # plain words: why it could not be drawn


def draw_figures(analysis: StudyAnalysis, out_dir: Path) -> tuple[list[FigureFile], list[SkippedFigure]]:
    """Draw every figure the analysis has data for into ``out_dir`` (created if missing).

    Returns the figures written, in report order, and the ones skipped with why. A figure's stale file from an
    earlier run is removed when the figure is skipped, so the folder never shows a figure the report does not.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Looked up at call time in this module (not stored in a module-level table) so each drawing function can be
    # replaced.
    drawers = (
        ("accuracy.png", accuracy_figure),
        ("differences.png", differences_figure),
        ("decisions.png", decisions_figure),
        ("critical_difference.png", critical_difference_figure),
        ("tuning.png", tuning_figure),
        ("lets_rho.png", lets_rho_figure),
        ("compute.png", compute_figure),
        ("shift.png", shift_figure),
        ("spread.png", spread_figure),
    )
    return draw_each(drawers, analysis, out_dir)


def draw_each(
    drawers: Sequence[tuple[str, Callable[[Any], tuple[Figure, str, str]]]], subject: Any, out_dir: Path
) -> tuple[list[FigureFile], list[SkippedFigure]]:
    """Draw ``(file name, draw(subject) -> (figure, title, caption))`` pairs in order into ``out_dir``.

    A figure that raises ``NotApplicable`` is left out silently, ``Skip`` or any other error is reported as
    skipped, and either way its stale file is removed.
    """
    written: list[FigureFile] = []
    skipped: list[SkippedFigure] = []
    for name, draw in drawers:
        path = out_dir / name
        try:
            with matplotlib.rc_context(STYLE):
                fig, title, caption = draw(subject)
                save(fig, path)
        except NotApplicable:
            path.unlink(missing_ok=True)
        except Skip as skip:
            path.unlink(missing_ok=True)
            skipped.append(SkippedFigure(name, str(skip)))
        except Exception as error:  # noqa: BLE001 - one broken figure must never cost the others
            path.unlink(missing_ok=True)
            skipped.append(SkippedFigure(name, f"could not be drawn: {error}"))
        else:
            written.append(FigureFile(name, title, caption))
    return written, skipped

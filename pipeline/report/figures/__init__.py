"""The report's PNG figures, drawn headless from a ``StudyAnalysis``: ``draw_figures(analysis, out_dir)``.

Every figure is drawn on its own: one that lacks its data is returned as a ``SkippedFigure`` with the reason in
plain words, and one whose drawing fails is reported the same way (``could not be drawn: ...``) while the others
are still written. Figures are built with the object API (``Figure`` on an Agg canvas), so no pyplot state is
touched and nothing stays open. Any jitter is seeded, so the same analysis gives the same images.

One module per figure (``accuracy``, ``differences``, ``decisions`` (sequential studies only),
``critical_difference``, ``tuning``, ``lets_rho``, ``compute``, ``shift``); ``style`` holds the colours, fonts,
canvas and saving, ``axes`` and ``wording`` what the figures share, ``label_placement`` the labels of the compute
figure, ``draw`` the loop over them all.
"""

from pipeline.report.figures.draw import FigureFile, SkippedFigure, draw_figures

__all__ = ["FigureFile", "SkippedFigure", "draw_figures"]

"""How a figure's drawing function says it has nothing to draw, or that it does not belong to this kind of study."""

from __future__ import annotations

NO_COMPARISON = "no comparison between methods was computed (it needs a study with 2 methods or more)"


class Skip(Exception):
    """Raised by a drawing function when the analysis lacks what its figure needs."""


class NotApplicable(Exception):
    """Raised by a drawing function whose figure belongs to another kind of study (``decisions.png`` for a list of
    seeds): the figure is neither drawn nor listed as not drawn, so such a report is as it was before the figure."""

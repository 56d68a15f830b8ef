"""How a figure's drawing function says it has nothing to draw."""

from __future__ import annotations

NO_COMPARISON = "no comparison between methods was computed (it needs a study with 2 methods or more)"


class Skip(Exception):
    """Raised by a drawing function when the analysis lacks what its figure needs."""

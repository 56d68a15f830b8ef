"""The one error of the MLflow room: its message says why the tracking location cannot be used and what to do."""

from __future__ import annotations


class TrackingError(RuntimeError):
    """The tracking location cannot be used; the message says why and what to do."""

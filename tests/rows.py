"""Trials-table rows written by hand: only the columns a test cares about; the identity columns get defaults."""

from __future__ import annotations

from typing import Any

from pipeline.results.row import TrialRow


def make_row(**record: Any) -> TrialRow:
    """A ``TrialRow`` from table columns (``hp.<name>`` and ``version.<library>`` included)."""
    phase = record.setdefault("phase", "eval")
    method = record.setdefault("method", "sam")
    record.setdefault("study", "s")
    record.setdefault("optimizer", method)
    record.setdefault("seed", 0)
    record.setdefault("trial_key", f"{phase}/{method}/seed{record['seed']}")
    return TrialRow.from_record(record)

"""Which configuration of each method goes on to the evaluation phase. It reads validation scores
of tuning trials only: the test split never decides anything."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.results.row import TrialRow
from pipeline.spec.study import MethodSpec, StudySpec


@dataclass(frozen=True)
class Selection:
    method: str
    params: dict[str, Any]  # the searched values it will be evaluated with ({} for an untuned method)
    source: str  # "fixed" (not tuned), "tuned" (a tuning trial's key) or "fallback"
    trial_key: str | None
    val_accuracy: float | None
    tuning_trials: int
    tuning_failed: int
    tuning_time_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def objective(row: TrialRow) -> float | None:
    """A tuning trial's score: its validation accuracy; 0 when it diverged; None when it failed."""
    if row.status == "failed":
        return None
    if row.status == "diverged":
        return 0.0
    return row.val_accuracy if row.val_accuracy is not None else 0.0


def _rank(row: TrialRow) -> tuple[float, float, int, int]:
    # Highest validation accuracy; ties to the lower validation loss, then the earlier search and trial.
    loss = row.val_loss if row.val_loss is not None else math.inf
    return (-(objective(row) or 0.0), loss, row.search or 0, row.trial_index or 0)


def recorded_time_s(rows: list[TrialRow]) -> float:
    """The wall time the rows record, summed; a trial that recorded none (it failed before reporting) adds 0."""
    return float(sum(r.wall_time_s for r in rows if r.wall_time_s is not None))


def select(method: MethodSpec, tune_rows: list[TrialRow]) -> Selection:
    """``tune_rows``: the trials-table rows of this method's tuning phase (all searches)."""
    time_s = recorded_time_s(tune_rows)
    failed = sum(1 for r in tune_rows if r.status == "failed")
    if not method.tuned:
        return Selection(method.name, {}, "fixed", None, None, 0, 0, 0.0)
    usable = [r for r in tune_rows if r.status == "ok"]
    if not usable:
        # Nothing trained to the end: evaluate the written values, and say so.
        return Selection(method.name, {}, "fallback", None, None, len(tune_rows), failed, time_s)
    best = min(usable, key=_rank)
    return Selection(
        method.name,
        best.params,
        "tuned",
        best.trial_key,
        objective(best),
        len(tune_rows),
        failed,
        time_s,
    )


def select_all(spec: StudySpec, rows: list[TrialRow]) -> dict[str, Selection]:
    return {m.name: select(m, [r for r in rows if r.phase == "tune" and r.method == m.name]) for m in spec.methods}

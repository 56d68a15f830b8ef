"""What the driver learns when a trial ends (from Ray Tune, or from a study's own bookkeeping)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.study.plan import TrialPlan


@dataclass
class TrialOutcome:
    """What the driver learns when a trial ends."""

    plan: TrialPlan
    status: str  # ok | diverged | failed
    result: dict[str, Any] | None  # TrialResult.to_dict(), when the trial ran to its end
    node: str | None
    mlflow_run_id: str | None
    error: str | None = None
    stopped_by_scheduler: bool = False
    last_epoch: dict[str, Any] = field(default_factory=dict)

"""One trial end to end: ``run_trial(TrialConfig) -> TrialResult``."""

from pipeline.train.config import TrialConfig
from pipeline.train.result import EpochRecord, TrialResult
from pipeline.train.runner import TrialCallbacks, resolve_device, run_trial

__all__ = [
    "EpochRecord",
    "TrialCallbacks",
    "TrialConfig",
    "TrialResult",
    "resolve_device",
    "run_trial",
]

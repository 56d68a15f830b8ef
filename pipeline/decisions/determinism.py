"""Exact reproduction on CPU: a trial whose configuration, code and numerical libraries did not change must
give the baseline's metrics bit for bit (``run_trial`` is deterministic on CPU for a given seed).

Pure functions over trials-table rows. A pair is checked only when both runs ran on the CPU with the same
configuration (``config_json`` without its checkpoint folder, which names the run's own folder), the same
``code_digest`` and the same torch and numpy versions; anything else is a changed run, which only the
statistical test judges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pipeline.results.row import TrialRow

# Compared in this order after the per-epoch history, so the first difference named is the earliest one.
FINAL_METRICS = (
    "train_loss",
    "val_loss",
    "val_accuracy",
    "best_epoch",
    "epochs_run",
    "test_loss",
    "test_accuracy",
    "final_val_accuracy",
    "final_test_accuracy",
    "shifted_test_loss",
    "shifted_test_accuracy",
    "final_rho",
)
_TIMING = {"seconds", "epoch_seconds"}  # wall-clock values differ on every run
_SAME_STACK = ("code_digest", "version.torch", "version.numpy")  # the code and the numerics under it


def _stack(row: TrialRow, key: str) -> str | None:
    return row.versions.get(key.removeprefix("version.")) if key.startswith("version.") else getattr(row, key)


@dataclass(frozen=True)
class Mismatch:
    method: str
    seed: int
    metric: str  # e.g. "epoch 2 val_loss" or "test_accuracy"
    current: Any
    baseline: Any

    def describe(self) -> str:
        return f"{self.method} seed {self.seed}: {self.metric} is {self.current!r}, the baseline had {self.baseline!r}"


@dataclass(frozen=True)
class DeterminismCheck:
    checked: int  # (method, seed) pairs that had to reproduce exactly
    mismatches: tuple[Mismatch, ...]
    skipped: dict[str, int]  # why other pairs were not checked -> how many

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _config(row: TrialRow) -> dict[str, Any]:
    config = row.config
    config.pop("checkpoint_dir", None)
    return config


def why_not_comparable(current: TrialRow, baseline: TrialRow) -> str | None:
    """Why this pair need not reproduce exactly, or None when it must."""
    if current.status != "ok" or baseline.status != "ok":
        return "not ok in both runs"
    devices = str(current.device), str(baseline.device)
    if not all(d.startswith("cpu") for d in devices):
        return "not on the CPU"
    if devices[0] != devices[1]:
        return "device changed"  # another architecture or thread count may sum in another order
    for key in _SAME_STACK:
        now, then = _stack(current, key), _stack(baseline, key)
        if not now or now != then:
            return f"{key} changed" if then else f"{key} not recorded"
    if _config(current) != _config(baseline):
        return "configuration changed"
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def first_difference(current: TrialRow, baseline: TrialRow) -> tuple[str, Any, Any] | None:
    """The first metric that differs: per-epoch history first (epoch by epoch), then the final metrics."""
    history, base_history = current.history, baseline.history
    for epoch, (now, then) in enumerate(zip(history, base_history, strict=False)):
        for key in now:
            if key not in _TIMING and key != "epoch" and not _same(now.get(key), then.get(key)):
                return f"epoch {epoch} {key}", now.get(key), then.get(key)
    if len(history) != len(base_history):
        return "epochs recorded", len(history), len(base_history)
    for key in FINAL_METRICS:
        if not _same(getattr(current, key), getattr(baseline, key)):
            return key, getattr(current, key), getattr(baseline, key)
    return None


def check_determinism(current: list[TrialRow], baseline: list[TrialRow]) -> DeterminismCheck:
    """``current``, ``baseline``: evaluation-phase rows of the two runs; pairs are matched by (method, seed)."""
    before = {(r.method, r.seed): r for r in baseline}
    checked = 0
    mismatches = []
    skipped: dict[str, int] = {}
    for row in sorted(current, key=lambda r: (r.method, r.seed)):
        pair = (row.method, row.seed)
        old = before.get(pair)
        reason = "not in the baseline" if old is None else why_not_comparable(row, old)
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        checked += 1
        difference = first_difference(row, old)
        if difference is not None:
            mismatches.append(Mismatch(pair[0], pair[1], *difference))
    return DeterminismCheck(checked, tuple(mismatches), skipped)

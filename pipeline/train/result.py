"""What a trial returns: per-epoch records and the TrialResult."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline._io import write_json_atomically

Status = Literal["ok", "diverged", "failed"]


@dataclass(frozen=True)
class EpochRecord:
    """Metrics after one epoch. The test split is not evaluated here: only at the end of the trial."""

    epoch: int  # 0-based
    train_loss: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    rho: float | None = None  # LETS's radius at the end of the epoch


@dataclass
class TrialResult:
    status: Status
    optimizer: str
    seed: int
    # The selected model: the best-validation checkpoint under early stopping, else the last epoch.
    test_accuracy: float
    test_loss: float
    val_accuracy: float
    val_loss: float
    train_loss: float
    best_epoch: int
    epochs_run: int
    # The model after the last epoch run (equal to the above without early stopping).
    final_test_accuracy: float
    final_val_accuracy: float
    shifted_test_accuracy: float | None
    shifted_test_loss: float | None
    history: list[EpochRecord]
    rho_trajectory: list[float] | None  # LETS: the initial radius, then the radius after each epoch
    wall_time_s: float
    train_time_s: float
    passes_per_step: float
    steps_per_epoch: int
    samples_per_second: float
    peak_memory_mb: float
    device: str
    versions: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    resumed_at_epoch: int | None = None  # a restarted trial: the epochs its checkpoint held (None: ran in one go)
    skipped_steps: int = 0  # fp16: steps skipped whole for non-finite gradients (the scaler backed off)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def write_json(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, self.to_dict())

"""One trials-table row from a trial's plan and its outcome (the schema is in ``results_store``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pipeline._io import finite_or_none
from pipeline.optim import default_hyperparameters
from pipeline.study.plan import TrialPlan

TRAINING_COLUMNS = (
    "lr",
    "momentum",
    "weight_decay",
    "nesterov",
    "base",
    "batch_size",
    "epochs",
    "schedule",
)
RESULT_SCALARS = (
    "test_accuracy",
    "test_loss",
    "val_accuracy",
    "val_loss",
    "train_loss",
    "best_epoch",
    "epochs_run",
    "final_test_accuracy",
    "final_val_accuracy",
    "shifted_test_accuracy",
    "shifted_test_loss",
    "wall_time_s",
    "train_time_s",
    "passes_per_step",
    "steps_per_epoch",
    "samples_per_second",
    "peak_memory_mb",
    "resumed_at_epoch",
)
_SET_BY_TRAINER = {"search_every"}  # XSAM searches once per epoch whatever its default says


def _scalar(value: Any) -> Any:
    """Parquet columns need one type: lists and None-or-mixed values become JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def trial_row(
    plan: TrialPlan,
    *,
    status: str,
    result: dict[str, Any] | None,
    node: str | None,
    error: str | None = None,
    stopped_by_scheduler: bool = False,
    partial: dict[str, Any] | None = None,
    mlflow_run_id: str | None = None,
) -> dict[str, Any]:
    """``result`` is a ``TrialResult.to_dict()``; without one (a failed or scheduler-stopped trial),
    ``partial`` holds the last per-epoch metrics the trial reported."""
    config = plan.config
    hparams = {
        k: v
        for k, v in {
            **default_hyperparameters(plan.optimizer),
            **config["hparams"],
        }.items()
        if k not in _SET_BY_TRAINER
    }
    row: dict[str, Any] = {
        "study": plan.study,
        "phase": plan.phase,
        "method": plan.method,
        "optimizer": plan.optimizer,
        "trial_key": plan.key,
        "search": plan.search,
        "trial_index": plan.trial_index,
        "seed": plan.seed,
        "status": status,
        "error": error,
        "stopped_by_scheduler": stopped_by_scheduler,
        "rho": hparams.get("rho"),
        **{k: config[k] for k in TRAINING_COLUMNS},
        **{f"hp.{k}": _scalar(v) for k, v in sorted(hparams.items())},
        "params_json": json.dumps(plan.params, sort_keys=True),
        "config_json": json.dumps(config, sort_keys=True),
        "node": node,
        "git_commit": plan.git_commit,
        "mlflow_run_id": mlflow_run_id,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if result is not None:
        result = finite_or_none(result)
        row.update({k: result[k] for k in RESULT_SCALARS})
        epochs = result["epochs_run"]
        row["seconds_per_epoch"] = result["train_time_s"] / epochs if epochs else None
        trajectory = result["rho_trajectory"]
        row["rho_trajectory"] = trajectory
        row["final_rho"] = trajectory[-1] if trajectory else None
        row["history_json"] = json.dumps(result["history"])
        row["device"] = result["device"]
        row.update({f"version.{k}": v for k, v in result["versions"].items()})
    else:
        partial = finite_or_none(partial or {})
        row.update({k: partial.get(k) for k in RESULT_SCALARS})
        # Ray's own clock of the trial, and the epochs it reported, stand in for the TrialResult's.
        row["wall_time_s"] = partial.get("time_total_s")
        row["epochs_run"] = partial["epoch"] + 1 if partial.get("epoch") is not None else None
        row["rho_trajectory"] = None
        row["final_rho"] = partial.get("rho")
        row["history_json"] = None
        row["device"] = partial.get("device")
    return row
